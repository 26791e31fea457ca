"""Pytest fixtures: traces (filled in by its area)."""
