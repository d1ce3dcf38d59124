"""Checks for the training claims (being built; until then its claims show as unchecked)."""
