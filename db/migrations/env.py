"""Alembic environment: runs the migrations online against the configured engine."""

from __future__ import annotations

from alembic import context

from db.engine import make_engine
from db.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    own = engine is None
    if own:
        engine = make_engine(config.get_main_option("sqlalchemy.url"))
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=connection.dialect.name == "sqlite",
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
    finally:
        if own:
            engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline migrations are not supported; use db.migrate.upgrade(url)")
run_migrations_online()
