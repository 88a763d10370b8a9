"""Candidate sources, one function each, all `(Context) -> Found` (see context.py)."""
