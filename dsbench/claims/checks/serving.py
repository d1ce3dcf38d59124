"""Checks for the serving claims (being built; until then its claims show as unchecked)."""
