"""`rivet` command line: run, migrate, users add."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from aiogram.exceptions import TelegramAPIError

from bot import texts
from bot.domain import Role, Tier
from bot.logs import setup_logging
from bot.runtime import EXIT_CONFIG, StartupError, create_app
from bot.services.onboarding import deep_link
from bot.settings import Settings, SettingsError, load_settings
from integrations.telegram import create_bot
from storage.db import Database
from storage.migrate import upgrade


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rivet", description="Rivet maintenance assistant")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="start the bot, the web app and the scheduler")
    run.add_argument("--no-migrate", action="store_true", help="don't upgrade the database")

    commands.add_parser("migrate", help="upgrade the database schema to the latest version")

    users = commands.add_parser("users", help="manage users").add_subparsers(
        dest="users_command", required=True
    )
    add = users.add_parser("add", help="create or update a user and print an invite link")
    add.add_argument("--email", required=True)
    add.add_argument("--name")
    add.add_argument("--tier", required=True, choices=[t.value for t in Tier if t != Tier.NONE])
    add.add_argument("--role", choices=[r.value for r in Role], default=Role.TECHNICIAN.value)

    assets = commands.add_parser("assets", help="manage the asset list").add_subparsers(
        dest="assets_command", required=True
    )
    asset_import = assets.add_parser(
        "import", help="add or update assets from a CSV file (matched by tag)"
    )
    asset_import.add_argument(
        "file", type=Path, help="CSV: name, tag, location, category, description, parent_tag"
    )
    cmms = commands.add_parser("cmms", help="the CMMS behind Rivet").add_subparsers(
        dest="cmms_command", required=True
    )
    cmms.add_parser("check", help="connectivity, licence state and limits")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(
            **({"migrate_on_start": False} if getattr(args, "no_migrate", False) else {})
        )
    except SettingsError as exc:
        print(f"rivet: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    setup_logging(settings.log_level, settings.log_format, settings.secret_values())
    try:
        if args.command == "run":
            if settings.telegram_bot_token is None:
                raise StartupError(texts.NO_BOT_TOKEN)
            return asyncio.run(create_app(settings).serve())
        if args.command == "migrate":
            return asyncio.run(_migrate(settings))
        if args.command == "users":
            return asyncio.run(_add_user(settings, args))
        if args.command == "assets":
            from bot.cmms_cli import assets_import

            return asyncio.run(assets_import(settings, args.file, sys.stdout))
        if args.command == "cmms":
            from bot.cmms_cli import cmms_check

            return asyncio.run(cmms_check(settings, sys.stdout))
    except StartupError as exc:
        print(f"rivet: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130
    return 1


async def _migrate(settings: Settings) -> int:
    database = Database(settings.resolved_database_url)
    try:
        await upgrade(database.engine)
    finally:
        await database.close()
    print("rivet: database is up to date")
    return 0


async def _add_user(settings: Settings, args: argparse.Namespace) -> int:
    from bot.factory import create_services

    if settings.telegram_bot_token is None:
        raise StartupError("TELEGRAM_BOT_TOKEN is needed to build the invite link (getMe)")
    services = create_services(settings)
    bot = create_bot(settings.telegram_bot_token.get_secret_value(), settings.telegram_api_base)
    try:
        await upgrade(services.database.engine)
        try:
            me = await bot.me()
        except TelegramAPIError as exc:
            raise StartupError(f"Telegram did not answer getMe: {exc.message}") from None
        user, token = await services.onboarding.add_user(
            email=args.email, name=args.name, tier=Tier(args.tier), role=Role(args.role)
        )
        print(f"user {user.id} <{user.email}> tier={user.tier.value} role={user.role.value}")
        print(deep_link(me.username or "", token))
        return 0
    finally:
        await bot.session.close()
        await services.close()


if __name__ == "__main__":
    sys.exit(main())
