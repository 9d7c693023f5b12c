"""QR labels for assets: a stable deep link per asset and a printable PDF sheet.

The link is ``https://t.me/<bot>?start=a_<token>``: the token is 16 random bytes (22 URL-safe
characters) stored per (CMMS backend, asset id) the first time it is needed, so it reveals
nothing about the asset, never changes afterwards and fits Telegram's 64-character payload."""

from __future__ import annotations

import asyncio
import io
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from bot.services.onboarding import deep_link
from storage.uow import UnitOfWorkFactory

ASSET_PREFIX = "a_"
TOKEN_BYTES = 16
ASSET_PAYLOAD = re.compile(r"^a_([A-Za-z0-9_-]{16,40})$")


@dataclass(frozen=True, slots=True)
class Label:
    name: str
    tag: str | None
    link: str


def asset_token_from_payload(payload: str) -> str | None:
    match = ASSET_PAYLOAD.fullmatch(payload)
    return match.group(1) if match else None


class AssetLinks:
    def __init__(self, uow: UnitOfWorkFactory, backend: str) -> None:
        self._uow = uow
        self._backend = backend

    async def tokens_for(self, asset_ids: Sequence[str]) -> dict[str, str]:
        """The token of each asset, creating the missing ones (safe against concurrent calls)."""
        wanted = list(dict.fromkeys(asset_ids))
        for _ in range(3):
            async with self._uow() as uow:
                known = await uow.asset_links.for_assets(self._backend, wanted)
                missing = [asset_id for asset_id in wanted if asset_id not in known]
                if not missing:
                    return known
                for asset_id in missing:
                    uow.asset_links.add(self._backend, asset_id, secrets.token_urlsafe(TOKEN_BYTES))
                try:
                    await uow.commit()
                except IntegrityError:
                    continue  # another process created some of them first: read again
        raise RuntimeError("could not create asset links")

    async def asset_for(self, token: str) -> str | None:
        async with self._uow() as uow:
            link = await uow.asset_links.by_token(token)
            if link is None or link.cmms_backend != self._backend:
                return None
            return link.asset_id


def asset_link(bot_username: str, token: str) -> str:
    return deep_link(bot_username, ASSET_PREFIX + token)


# --- the PDF sheet --------------------------------------------------------------------------
COLUMNS, ROWS = 3, 6


def render_sheet(labels: Sequence[Label]) -> bytes:
    """A4 pages of labels (name, tag, QR code). CPU-bound: call via asyncio.to_thread."""
    import segno
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfgen.canvas import Canvas

    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4)
    canvas.setTitle("Rivet asset labels")
    page_w, page_h = A4
    margin = 10 * mm
    cell_w = (page_w - 2 * margin) / COLUMNS
    cell_h = (page_h - 2 * margin) / ROWS
    per_page = COLUMNS * ROWS
    for index, label in enumerate(labels):
        if index and index % per_page == 0:
            canvas.showPage()
        slot = index % per_page
        x = margin + (slot % COLUMNS) * cell_w
        y = page_h - margin - (slot // COLUMNS + 1) * cell_h
        canvas.setLineWidth(0.3)
        canvas.setDash(2, 2)
        canvas.rect(x, y, cell_w, cell_h)
        canvas.setDash()
        qr = segno.make(label.link, error="m")
        matrix = list(qr.matrix_iter(border=4))
        qr_size = min(cell_w - 8 * mm, cell_h - 16 * mm)
        module = qr_size / len(matrix)
        qr_x = x + (cell_w - qr_size) / 2
        qr_y = y + 13 * mm
        canvas.setFillColorRGB(0, 0, 0)
        for row_index, row in enumerate(matrix):
            top = qr_y + qr_size - (row_index + 1) * module
            for col_index, dark in enumerate(row):
                if dark:
                    canvas.rect(qr_x + col_index * module, top, module, module, stroke=0, fill=1)
        canvas.setFont("Helvetica-Bold", 10)
        canvas.drawCentredString(x + cell_w / 2, y + 8 * mm, _fit(label.name, 34))
        if label.tag:
            canvas.setFont("Helvetica", 9)
            canvas.drawCentredString(x + cell_w / 2, y + 3.5 * mm, _fit(label.tag, 40))
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def sheet_pdf(labels: Sequence[Label]) -> bytes:
    return await asyncio.to_thread(render_sheet, labels)
