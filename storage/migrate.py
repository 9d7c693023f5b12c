"""Schema migrations with Alembic, driven from Python (`rivet migrate`, `rivet run`, tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


async def upgrade(engine: AsyncEngine, revision: str = "heads") -> None:
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: command.upgrade(alembic_config(sync), revision))


async def downgrade(engine: AsyncEngine, revision: str = "base") -> None:
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: command.downgrade(alembic_config(sync), revision))


async def autogenerate(engine: AsyncEngine, message: str, rev_id: str) -> None:
    """Developer helper: write a new revision from the models' difference to `engine`."""
    async with engine.begin() as connection:
        await connection.run_sync(
            lambda sync: command.revision(
                alembic_config(sync), message=message, autogenerate=True, rev_id=rev_id
            )
        )
