"""Checks for the parallel claims (being built; until then its claims show as unchecked)."""
