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


async def test_prints_left_unattached_before_retries_are_not_retried_out_of_the_blue(
    tmp_path: Path,
) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'rivet.db'}")
    now = "2026-11-01 10:00:00.000000"
    try:
        await upgrade(database.engine, "0008")
        async with database.engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO users (id, email, role, tier, status, created_at, updated_at) "
                    "VALUES (1, 'dana@plant.example', 'technician', 'pro', 'active', :t, :t)"
                ),
                {"t": now},
            )
            for print_id, asset_id, attachment in ((1, "7", None), (2, "7", "55"), (3, None, None)):
                await connection.execute(
                    text(
                        "INSERT INTO prints (id, user_id, asset_id, cmms_attachment_id, "
                        "stored_name, file_name, size, kind, pages, labels, summary, "
                        "used_vision, created_at) VALUES (:id, 1, :asset, :attachment, :stored, "
                        "'panel.pdf', 10, 'pdf', 1, '{}', '', 0, :t)"
                    ),
                    {
                        "id": print_id,
                        "asset": asset_id,
                        "attachment": attachment,
                        "stored": f"{print_id:032x}.pdf",
                        "t": now,
                    },
                )
        await upgrade(database.engine)
        async with database.engine.connect() as connection:
            rows = await connection.execute(text("SELECT id, cmms_refusal FROM prints ORDER BY id"))
            refused = {row[0]: row[1] is not None for row in rows}
        assert refused == {1: True, 2: False, 3: False}  # only the filed, unattached one
    finally:
        await database.close()
