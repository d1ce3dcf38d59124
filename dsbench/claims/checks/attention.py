"""Checks for the attention claims (being built; until then its claims show as unchecked)."""
