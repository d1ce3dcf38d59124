"""Checks for the failures claims (being built; until then its claims show as unchecked)."""
