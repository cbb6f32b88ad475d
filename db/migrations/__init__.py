"""Alembic migrations of the study schema (run with `db.migrate.upgrade`)."""
