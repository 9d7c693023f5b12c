"""``/start a_<token>`` from a QR asset label: the asset card with "Report a problem"."""

from __future__ import annotations

from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import CommandObject
from aiogram.types import Message

from bot import texts
from bot.services.asset_labels import AssetLinks, asset_token_from_payload
from bot.services.onboarding import UserView
from bot.throttle import ReplyThrottle
from handlers.common import answer_stranger
from handlers.work_orders import show_asset_card
from integrations.cmms.port import CmmsError, CmmsNotFound, CmmsPort


async def start_from_asset_label(
    message: Message,
    command: CommandObject,
    user: UserView | None,
    cmms: CmmsPort,
    reply_throttle: ReplyThrottle,
    asset_links: AssetLinks | None = None,
) -> None:
    token = asset_token_from_payload(command.args or "")
    asset_id = await asset_links.asset_for(token) if token and asset_links else None
    if asset_id is None:
        raise SkipHandler  # not an asset label: maybe an invite token that starts with "a_"
    if user is None:
        await answer_stranger(message, reply_throttle)
        return
    try:
        await show_asset_card(message, cmms, asset_id)
    except CmmsNotFound:
        await message.answer(texts.ASSET_NOT_FOUND)
    except CmmsError:
        await message.answer(texts.CMMS_DOWN)
