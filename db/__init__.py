"""SQLAlchemy models, engine and sessions (SQLite by default, any SQLAlchemy URL)."""
