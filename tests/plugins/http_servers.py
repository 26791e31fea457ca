"""Pytest fixtures: http_servers (filled in by its area)."""
