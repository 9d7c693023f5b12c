"""Chat with Print as a service: take an upload, analyze it, keep it, tie it to an asset, answer.

The reading and the answers come from ``PrintAnalyzer`` (print_analysis.py); this module adds
what lives around it: the tier gate and monthly quota, the file under RIVET_DATA_DIR/prints with
a name Rivet makes up (never the client's), the row per print, the question history, and the
CMMS attachment. No aiogram here: handlers turn results and stages into messages.

Nothing is stored half-way: a rejected upload (too big, wrong type, damaged, password-protected,
too small to read) raises ``PrintRejected`` before any file or row exists, and a failed insert
removes the file it had just written.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path, PurePath

import openai

from bot import texts
from bot.domain import Tier
from bot.services.print_analysis import MAX_HISTORY_TURNS as ANALYZER_HISTORY_TURNS
from bot.services.print_analysis import (
    HistoryTurn,
    PrintAnalysis,
    PrintAnalyzer,
    PrintAnswer,
    PrintDocument,
    PrintRejected,
    load_print_async,
)
from bot.services.print_loading import DEFAULT_MAX_BYTES, DEFAULT_MAX_PAGES
from bot.services.tiers import Feature, Refusal, TierGate
from bot.settings import Settings
from integrations.cmms.port import (
    Attachment,
    CmmsError,
    CmmsLimitReached,
    CmmsPort,
    CmmsUnavailable,
)
from storage.models import PrintFile, PrintQuestion, utcnow
from storage.uow import UnitOfWorkFactory

__all__ = [
    "AttachResult",
    "PrintGone",
    "PrintInfo",
    "PrintRejected",
    "PrintService",
    "PrintStage",
    "create_print_service",
]

logger = logging.getLogger(__name__)

MAX_FILE_NAME_CHARS = 255
MAX_LISTED_PRINTS = 10
# How long one hand-over of a file to the CMMS holds its print; a crash is retried after it.
ATTACH_LEASE = timedelta(minutes=5)
# A file the CMMS could not take waits this long, so the prints behind it go first meanwhile.
ATTACH_RETRY_DELAY = timedelta(minutes=2)
# A whole hand-over (upload, then linking to the asset) while the technician may be waiting.
ATTACH_TIMEOUT_S = 20.0
DOCUMENT_CACHE_SIZE = 8  # loaded prints kept in memory so each question doesn't re-render
_UNSAFE_IN_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")


class PrintStage(StrEnum):
    """Where a long ingest is; handlers show each stage by editing one message."""

    READING = "reading"  # rendering pages, text layer, OCR
    ANALYZING = "analyzing"  # the analysis (a vision model call when configured)
    SAVING = "saving"


ProgressCallback = Callable[[PrintStage, PrintDocument | None], Awaitable[None]]


class PrintGone(Exception):
    """The print does not exist, is not the user's to read, or its file has disappeared."""


@dataclass(frozen=True, slots=True)
class PrintInfo:
    id: int
    user_id: int
    file_name: str
    kind: str
    pages: int
    labels: dict[str, list[int]]
    summary: str
    asset_id: str | None
    asset_name: str | None
    attached: bool  # the CMMS holds it as an attachment of the asset
    created_at: datetime

    @classmethod
    def of(cls, row: PrintFile) -> PrintInfo:
        return cls(
            id=row.id,
            user_id=row.user_id,
            file_name=row.file_name,
            kind=row.kind,
            pages=row.pages,
            labels={str(k): [int(p) for p in v] for k, v in (row.labels or {}).items()},
            summary=row.summary,
            asset_id=row.asset_id,
            asset_name=row.asset_name,
            attached=row.cmms_attachment_id is not None,
            created_at=row.created_at,
        )


@dataclass(frozen=True, slots=True)
class IngestResult:
    print: PrintInfo
    analysis: PrintAnalysis
    document: PrintDocument


@dataclass(frozen=True, slots=True)
class AttachResult:
    print: PrintInfo
    attachment: Attachment | None
    problem: str | None  # the CMMS's own sentence when it refused or was unreachable
    will_retry: bool = False  # down or capped: the file is handed over later


class HandOver(StrEnum):
    ATTACHED = "attached"
    WAITING = "waiting"  # down, capped, or another worker is on it: tried again later
    REFUSED = "refused"
    GONE = "gone"


@dataclass(frozen=True, slots=True)
class _HandedOver:
    outcome: HandOver
    attachment: Attachment | None = None
    problem: str | None = None


def display_name(file_name: str | None, fallback: str) -> str:
    """The client's file name reduced to something safe to show (never used as a path)."""
    if not file_name:
        return fallback
    name = " ".join(_UNSAFE_IN_NAME.sub(" ", PurePath(file_name.replace("\\", "/")).name).split())
    return name[:MAX_FILE_NAME_CHARS] or fallback


def stored_type(data: bytes, kind: str) -> tuple[str, str]:
    """(suffix, MIME type) from the bytes the loader accepted, not from what the client said."""
    if kind == "pdf":
        return ".pdf", "application/pdf"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return ".png", "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp", "image/webp"
    return ".jpg", "image/jpeg"


def month_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


class PrintService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        analyzer: PrintAnalyzer,
        cmms: CmmsPort,
        tiers: TierGate,
        *,
        files_dir: Path,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_pages: int = DEFAULT_MAX_PAGES,
        openai_client: openai.AsyncOpenAI | None = None,
    ) -> None:
        self._uow = uow
        self.analyzer = analyzer
        self._cmms = cmms
        self._tiers = tiers
        self.files_dir = files_dir
        self.max_bytes = max_bytes
        self.max_pages = max_pages
        self._openai = openai_client
        self._documents: OrderedDict[int, PrintDocument] = OrderedDict()

    async def close(self) -> None:
        if self._openai is not None:
            await self._openai.close()

    # -- the gate ------------------------------------------------------------------------
    def may_ask(self, tier: Tier) -> Refusal | None:
        """Questions need the tier only; the monthly quota counts uploads."""
        return self._tiers.check(tier, Feature.PRINTS)

    async def may_upload(
        self, user_id: int, tier: Tier, now: datetime | None = None
    ) -> Refusal | None:
        refusal = self._tiers.check(tier, Feature.PRINTS)
        if refusal is not None or self._tiers.quota(tier, Feature.PRINTS) is None:
            return refusal
        async with self._uow() as uow:
            used = await uow.prints.count_since(user_id, month_start(now or datetime.now(UTC)))
        return self._tiers.check_quota(tier, Feature.PRINTS, used)

    def too_big(self, size: int | None) -> bool:
        """Checked on Telegram's declared size, before downloading anything."""
        return size is not None and size > self.max_bytes

    # -- upload --------------------------------------------------------------------------
    async def ingest(
        self,
        *,
        owner_id: int,
        data: bytes,
        file_name: str | None,
        mime_type: str | None,
        progress: ProgressCallback | None = None,
    ) -> IngestResult:
        """Read, analyze and keep a print; raises PrintRejected with nothing stored."""
        if progress is not None:
            await progress(PrintStage.READING, None)
        document = await load_print_async(
            data,
            file_name=file_name,
            mime_type=mime_type,
            max_bytes=self.max_bytes,
            max_pages=self.max_pages,
        )
        if progress is not None:
            await progress(PrintStage.ANALYZING, document)
        analysis = await self.analyzer.analyze(document)
        if progress is not None:
            await progress(PrintStage.SAVING, document)

        suffix, stored_mime = stored_type(data, document.kind)
        fallback = f"print-{datetime.now(UTC):%Y%m%d-%H%M%S}{suffix}"
        stored_name = uuid.uuid4().hex + suffix
        path = self.files_dir / stored_name
        await asyncio.to_thread(_write_file, path, data)
        try:
            async with self._uow() as uow:
                row = await uow.prints.add(
                    PrintFile(
                        user_id=owner_id,
                        stored_name=stored_name,
                        file_name=display_name(file_name, fallback),
                        mime_type=stored_mime,
                        size=len(data),
                        kind=document.kind,
                        pages=len(document.pages),
                        labels=document.labels,
                        summary=analysis.summary,
                        used_vision=analysis.used_vision,
                    )
                )
                await uow.commit()
                info = PrintInfo.of(row)
        except BaseException:
            await asyncio.to_thread(path.unlink, missing_ok=True)
            raise
        self._remember(info.id, document)
        return IngestResult(print=info, analysis=analysis, document=document)

    async def attach_to_asset(self, print_id: int, asset_id: str, asset_name: str) -> AttachResult:
        """Tie the print to an asset and hand the file to the CMMS as the asset's attachment.

        The tie is kept whatever the CMMS says, so the asset's print list in Rivet stays right.
        A CMMS that is down or capped gets the file later (`attach_pending`, which tells the
        user); one that refuses the file does not get it again unless the print is filed anew."""
        async with self._uow() as uow:
            row = await uow.prints.get(print_id)
            if row is None:
                raise PrintGone(print_id)
            if row.asset_id != asset_id or row.cmms_attachment_id is None:
                if row.asset_id != asset_id:
                    # An attempt for the old asset may be under way: it settles nothing now.
                    row.cmms_attach_lease_until = None
                row.asset_id = asset_id
                row.asset_name = asset_name[:200]
                row.cmms_attachment_id = None
                row.cmms_refusal = None
                await uow.commit()
        handed = await self._hand_over(print_id, tell_user=False)
        async with self._uow() as uow:
            row = await uow.prints.get(print_id)
            if row is None:
                raise PrintGone(print_id)
            info = PrintInfo.of(row)
        return AttachResult(
            print=info,
            attachment=handed.attachment,
            problem=handed.problem,
            will_retry=handed.outcome is HandOver.WAITING,
        )

    async def attach_pending(self, limit: int = 20) -> int:
        """Scheduler job: hand the CMMS the prints it could not take before. Returns how many."""
        async with self._uow() as uow:
            waiting = await uow.prints.awaiting_attachment(utcnow(), limit)
        attached = 0
        for print_id in waiting:
            handed = await self._hand_over(print_id, tell_user=True)
            if handed.outcome is HandOver.ATTACHED:
                attached += 1
            elif handed.outcome is HandOver.WAITING:
                break  # still down or capped: the next run tries again
        return attached

    async def _hand_over(self, print_id: int, *, tell_user: bool) -> _HandedOver:
        """One attempt to give the CMMS a filed print, by whoever holds its lease."""
        now = utcnow()
        async with self._uow() as uow:
            row = await uow.prints.get(print_id)
            if row is None or row.cmms_attachment_id is not None:
                return _HandedOver(HandOver.ATTACHED if row else HandOver.GONE)
            if not await uow.prints.claim_attachment(print_id, now, now + ATTACH_LEASE):
                # Another worker is on it, or it waits out a retry delay.
                return _HandedOver(HandOver.WAITING, problem=None)
            await uow.commit()
            stored_name, file_name, mime = row.stored_name, row.file_name, row.mime_type
            asset_id = row.asset_id
        assert asset_id is not None
        try:
            data = await asyncio.to_thread((self.files_dir / stored_name).read_bytes)
        except OSError:
            handed = _HandedOver(HandOver.REFUSED, problem=texts.PRINT_FILE_MISSING)
        else:
            handed = await self._attach(data, file_name, mime, asset_id)
        if handed.problem is not None:
            logger.warning("print %s not attached: %s", print_id, handed.problem)
        await self._settle(print_id, asset_id, now, handed, tell_user=tell_user)
        return handed

    async def _attach(
        self, data: bytes, file_name: str, mime: str | None, asset_id: str
    ) -> _HandedOver:
        """The CMMS call, bounded as a whole (it may be several requests): the technician may be
        waiting for it in the chat. Anything but a refusal is retried later."""
        try:
            attachment = await asyncio.wait_for(
                self._cmms.attach_file(
                    data=data, file_name=file_name, mime_type=mime, asset_id=asset_id
                ),
                ATTACH_TIMEOUT_S,
            )
        except (CmmsUnavailable, CmmsLimitReached) as error:
            return _HandedOver(HandOver.WAITING, problem=error.message)
        except CmmsError as error:
            return _HandedOver(HandOver.REFUSED, problem=error.message)
        except TimeoutError:
            return _HandedOver(HandOver.WAITING, problem=texts.CMMS_NO_ANSWER)
        except Exception:
            logger.exception("print attachment failed unexpectedly; it will be retried")
            return _HandedOver(HandOver.WAITING, problem=texts.CMMS_NO_ANSWER)
        return _HandedOver(HandOver.ATTACHED, attachment=attachment)

    async def _settle(
        self,
        print_id: int,
        asset_id: str,
        claimed_at: datetime,
        handed: _HandedOver,
        *,
        tell_user: bool,
    ) -> None:
        async with self._uow() as uow:
            row = await uow.prints.get(print_id)
            if row is None or row.asset_id != asset_id:
                return  # deleted or filed elsewhere meanwhile
            waiting = handed.outcome is HandOver.WAITING
            row.cmms_attach_lease_until = utcnow() + ATTACH_RETRY_DELAY if waiting else None
            if handed.attachment is not None:
                row.cmms_attachment_id = handed.attachment.id
            elif handed.outcome is HandOver.REFUSED:
                row.cmms_refusal = (handed.problem or "")[:500]
            user = await uow.users.get(row.user_id) if tell_user and not waiting else None
            if user is not None and user.telegram_chat_id:
                asset_name = row.asset_name or ""
                text = (
                    texts.print_attached_later(row.file_name, asset_name)
                    if handed.attachment is not None
                    else texts.print_attach_failed(asset_name, handed.problem or "")
                )
                await uow.outbox.enqueue(
                    # Once per attempt: a later filing of the same print is news again.
                    dedup_key=f"print:{print_id}:attach:{claimed_at.timestamp()}",
                    chat_id=user.telegram_chat_id,
                    text=text,
                )
            await uow.commit()

    # -- reading back --------------------------------------------------------------------
    async def get(self, print_id: int, user_id: int) -> PrintInfo:
        """A print the user may read: their own, or one filed on an asset (shared by the team)."""
        async with self._uow() as uow:
            row = await uow.prints.get(print_id)
            if row is None or (row.user_id != user_id and row.asset_id is None):
                raise PrintGone(print_id)
            return PrintInfo.of(row)

    async def mine(self, user_id: int, limit: int = MAX_LISTED_PRINTS) -> list[PrintInfo]:
        async with self._uow() as uow:
            return [PrintInfo.of(row) for row in await uow.prints.for_user(user_id, limit)]

    async def for_asset(self, asset_id: str, limit: int = MAX_LISTED_PRINTS) -> list[PrintInfo]:
        async with self._uow() as uow:
            return [PrintInfo.of(row) for row in await uow.prints.for_asset(asset_id, limit)]

    async def history(self, print_id: int, user_id: int) -> list[HistoryTurn]:
        async with self._uow() as uow:
            rows = await uow.prints.recent_questions(print_id, user_id, ANALYZER_HISTORY_TURNS)
            return [(row.question, row.answer) for row in rows]

    # -- questions -----------------------------------------------------------------------
    async def ask(self, print_id: int, user_id: int, question: str) -> PrintAnswer:
        """Answer from the print with the user's last few turns on it; the turn is recorded."""
        info = await self.get(print_id, user_id)
        document = await self._document(info.id)
        history = await self.history(info.id, user_id)
        answer = await self.analyzer.answer(document, question, history)
        async with self._uow() as uow:
            uow.prints.add_question(
                PrintQuestion(
                    print_id=info.id,
                    user_id=user_id,
                    question=question,
                    answer=answer.text,
                    pages=list(answer.pages),
                    used_vision=answer.used_vision,
                )
            )
            await uow.commit()
        return answer

    async def _document(self, print_id: int) -> PrintDocument:
        cached = self._documents.get(print_id)
        if cached is not None:
            self._documents.move_to_end(print_id)
            return cached
        async with self._uow() as uow:
            row = await uow.prints.get(print_id)
            if row is None:
                raise PrintGone(print_id)
            stored_name, file_name, mime = row.stored_name, row.file_name, row.mime_type
        try:
            data = await asyncio.to_thread((self.files_dir / stored_name).read_bytes)
        except OSError as error:
            raise PrintGone(print_id) from error
        # Loaded once already, so it reads again; the limits are the ones it passed then.
        document = await load_print_async(
            data, file_name=file_name, mime_type=mime, max_bytes=len(data), max_pages=self.max_pages
        )
        self._remember(print_id, document)
        return document

    def _remember(self, print_id: int, document: PrintDocument) -> None:
        self._documents[print_id] = document
        self._documents.move_to_end(print_id)
        while len(self._documents) > DOCUMENT_CACHE_SIZE:
            self._documents.popitem(last=False)


def _write_file(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def create_openai_client(settings: Settings) -> openai.AsyncOpenAI | None:
    """A client for the vision model, when OPENAI_VISION_MODEL and a key or base URL are set."""
    if not settings.openai_vision_model:
        return None
    if settings.openai_api_key is None and settings.openai_base_url is None:
        return None
    # Self-hosted OpenAI-compatible servers (OPENAI_BASE_URL) often need no key at all.
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "unused"
    return openai.AsyncOpenAI(api_key=key, base_url=settings.openai_base_url)


def create_print_service(
    settings: Settings, uow: UnitOfWorkFactory, cmms: CmmsPort, tiers: TierGate
) -> PrintService:
    client = create_openai_client(settings)
    analyzer = PrintAnalyzer(
        openai_client=client,
        vision_model=settings.openai_vision_model if client is not None else None,
    )
    return PrintService(
        uow,
        analyzer,
        cmms,
        tiers,
        files_dir=settings.rivet_data_dir / "prints",
        openai_client=client,
    )
