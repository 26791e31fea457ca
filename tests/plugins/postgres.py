"""Pytest fixtures: postgres (filled in by its area)."""
