"""A small JSON API under /_emulator/ so a sandbox web page can act as users."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.emulator.models import ButtonNotFoundError

if TYPE_CHECKING:
    from bot.emulator.driver import EmulatedUser
    from bot.emulator.server import BotApiEmulator


def control_routes(emulator: BotApiEmulator) -> list[web.RouteDef]:
    """POST users/{id}/messages {"text"}, POST users/{id}/press {"button", "message_id"?},
    GET chats/{id}. An optional `bot` query parameter picks a bot token; default: the first.
    """

    def user_for(request: web.Request, user_id: int) -> EmulatedUser:
        token = request.query.get("bot")
        if not emulator.world.bots or (token is not None and token not in emulator.world.bots):
            raise web.HTTPNotFound(text='{"error": "no such bot"}', content_type="application/json")
        return emulator.user(user_id, bot_token=token)

    async def send_message(request: web.Request) -> web.Response:
        body = await _json_body(request)
        text = body.get("text")
        if not isinstance(text, str) or not text:
            return _error(400, "text is required")
        user = user_for(request, int(request.match_info["user_id"]))
        return web.json_response({"update": await user.send_text(text)})

    async def press(request: web.Request) -> web.Response:
        body = await _json_body(request)
        user = user_for(request, int(request.match_info["user_id"]))
        message_id = body.get("message_id")
        if message_id is not None and not isinstance(message_id, int):
            return _error(400, "message_id must be an integer")
        try:
            query_id = await user.press(str(body.get("button", "")), message_id)
        except ButtonNotFoundError as error:
            return _error(404, str(error))
        return web.json_response({"callback_query_id": query_id})

    async def chat(request: web.Request) -> web.Response:
        user = user_for(request, int(request.match_info["chat_id"]))
        return web.json_response({"messages": [message.to_json() for message in user.messages()]})

    return [
        web.post(r"/_emulator/users/{user_id:\d+}/messages", send_message),
        web.post(r"/_emulator/users/{user_id:\d+}/press", press),
        web.get(r"/_emulator/chats/{chat_id:\d+}", chat),
    ]


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)
