"""Pytest fixtures: agentops_standin (filled in by its area)."""
