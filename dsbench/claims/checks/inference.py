"""Checks for the inference claims (being built; until then its claims show as unchecked)."""
