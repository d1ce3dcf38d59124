"""Checks that turn the catalogue's claims into verdicts, one module per evidence family."""
