"""FOMM (First Order Motion Model)."""
