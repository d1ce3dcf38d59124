"""Checks for the models claims (being built; until then its claims show as unchecked)."""
