"""pytest hooks of pytest-partition (being built; see issue 2)."""
