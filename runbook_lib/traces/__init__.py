"""Trace storage (ClickHouse ``otel_2.otel_traces``) and analytics."""
