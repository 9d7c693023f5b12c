"""The schema history has one head; fresh databases and ones from the branch era reach it."""

from __future__ import annotations

from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import text

from storage.db import Database
from storage.migrate import alembic_config, downgrade, upgrade

HEAD = "0009"


def test_the_history_has_one_head() -> None:
    assert ScriptDirectory.from_config(alembic_config()).get_heads() == [HEAD]


async def versions(database: Database) -> set[str]:
    async with database.engine.connect() as connection:
        rows = await connection.execute(text("SELECT version_num FROM alembic_version"))
        return {row[0] for row in rows}


async def test_a_database_migrated_branch_by_branch_reaches_the_head(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'rivet.db'}")
    try:
        for branch in ("0002", "0004", "0005", "0006"):  # what `upgrade heads` left before 0007
            await upgrade(database.engine, branch)
        assert await versions(database) == {"0002", "0004", "0005", "0006"}
        await upgrade(database.engine)
        assert await versions(database) == {HEAD}
        await downgrade(database.engine)
        assert await versions(database) == set()
        await upgrade(database.engine)
        assert await versions(database) == {HEAD}
    finally:
        await database.close()
