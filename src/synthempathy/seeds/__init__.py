"""Seed situations: reading seed files (files.py) and growing more with the model (grow.py)."""
