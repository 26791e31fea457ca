"""Pytest fixtures: litellm (filled in by its area)."""
