"""From a technician's words to a work order: understand, resolve the asset, check for a
duplicate, create idempotently. No aiogram here; handlers render what this decides."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta
from typing import Any, Protocol

from rapidfuzz import fuzz

from bot.domain import AssetCandidate, Priority, WorkOrderSource, WorkOrderStatus
from bot.services.asset_search import is_clear_winner, plausible
from bot.services.intent import IntentExtractor
from integrations.cmms.port import CmmsError, CmmsPort, NewWorkOrder, WorkOrder
from storage.models import utcnow

DUPLICATE_WINDOW = timedelta(days=7)
DUPLICATE_MIN_SIMILARITY = 55.0
TITLE_MAX = 80
SAME_ASSET_AGAIN = re.compile(
    r"\b(same|that)\s+(one|pump|motor|machine|asset|unit|compressor|conveyor|fan|equipment)\b"
    r"|\bit\s+again\b|\bagain\b.*\bsame\b",
    re.IGNORECASE,
)


@dataclass(slots=True)
class Draft:
    """A work order being prepared in chat; stored in FSM data between steps."""

    title: str
    description: str
    priority: Priority
    source: WorkOrderSource
    chat_id: int
    message_id: int
    location: str | None = None
    safety: bool = False
    asset_id: str | None = None
    asset_name: str | None = None
    asset_mention: str | None = None
    transcript: str | None = None
    photo_file_ids: list[str] = field(default_factory=list)

    @property
    def idempotency_key(self) -> str:
        return f"tg:{self.chat_id}:{self.message_id}"

    def to_state(self) -> dict[str, Any]:
        # Not dataclasses.asdict: it deep-copies field by field, and every report saves a draft.
        state = {name: getattr(self, name) for name in _DRAFT_FIELDS}
        state["photo_file_ids"] = list(self.photo_file_ids)
        return state

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> Draft:
        values = dict(data)
        values["priority"] = Priority(values["priority"])
        values["source"] = WorkOrderSource(values["source"])
        return cls(**values)

    def with_asset(self, candidate: AssetCandidate | None) -> Draft:
        if candidate is None:
            return replace(self, asset_id=None, asset_name=None)
        return replace(
            self,
            asset_id=candidate.asset_id,
            asset_name=candidate.name,
            location=self.location or candidate.location,
        )


_DRAFT_FIELDS = tuple(draft_field.name for draft_field in fields(Draft))


@dataclass(frozen=True, slots=True)
class Understanding:
    draft: Draft
    candidates: list[AssetCandidate]  # buttons to offer when the asset is not clear

    @property
    def needs_asset_choice(self) -> bool:
        return self.draft.asset_id is None and bool(self.candidates)


class WorkOrderIntake:
    def __init__(self, extractor: IntentExtractor, cmms: CmmsPort) -> None:
        self._extractor = extractor
        self._cmms = cmms

    async def understand(
        self,
        text: str,
        *,
        chat_id: int,
        message_id: int,
        source: WorkOrderSource,
        last_asset: AssetCandidate | None = None,
        default_location: str | None = None,
        transcript: str | None = None,
    ) -> Understanding:
        intent = await self._extractor.extract(text)
        draft = Draft(
            title=intent.title[:TITLE_MAX],
            description=intent.description or text,
            priority=intent.priority,
            source=source,
            chat_id=chat_id,
            message_id=message_id,
            location=intent.location or default_location,
            safety=intent.safety,
            asset_mention=intent.asset_mention,
            transcript=transcript,
        )
        if last_asset is not None and SAME_ASSET_AGAIN.search(text):
            return Understanding(draft.with_asset(last_asset), [])
        candidates = intent.asset_candidates
        if is_clear_winner(candidates):
            return Understanding(draft.with_asset(candidates[0]), [])
        return Understanding(draft, plausible(candidates))

    async def search_assets(self, words: str) -> list[AssetCandidate]:
        return await self._cmms.search_assets(words, limit=5)

    async def possible_duplicate(self, draft: Draft) -> WorkOrder | None:
        """An open work order on the same asset, from the last week, about the same problem."""
        if draft.asset_id is None:
            return None
        try:
            open_orders = await self._cmms.list_open_work_orders(asset_id=draft.asset_id)
        except CmmsError:
            return None  # the check is a courtesy; never block a report on it
        since = utcnow() - DUPLICATE_WINDOW
        best: tuple[float, WorkOrder] | None = None
        for order in open_orders:
            if order.created_at < since:
                continue
            score = max(
                fuzz.token_set_ratio(draft.title, order.title),
                fuzz.token_set_ratio(draft.description, f"{order.title} {order.description}"),
            )
            if score >= DUPLICATE_MIN_SIMILARITY and (best is None or score > best[0]):
                best = (score, order)
        return best[1] if best else None


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    """What became of a CMMS write: done now (`work_order`), or kept for a later retry."""

    work_order: WorkOrder | None
    queued: bool = False
    problem: str | None = None  # a sentence for the user when the CMMS refused or is capped


@dataclass(frozen=True, slots=True)
class PendingFile:
    """A file to attach to a work order once it exists in the CMMS (e.g. a report's photo)."""

    file_name: str
    mime_type: str | None
    data: bytes


class WorkOrderWriter(Protocol):
    async def submit_create(
        self,
        new: NewWorkOrder,
        *,
        user_id: int,
        chat_id: int,
        attachments: Sequence[PendingFile] = (),
    ) -> WriteOutcome: ...

    async def submit_status(
        self,
        work_order_id: str,
        status: WorkOrderStatus,
        *,
        note: str | None,
        user_id: int,
        chat_id: int,
    ) -> WriteOutcome: ...

    async def submit_note(
        self, work_order_id: str, text: str, *, author_email: str | None, user_id: int, chat_id: int
    ) -> WriteOutcome: ...


def new_work_order(draft: Draft, *, reporter_email: str | None) -> NewWorkOrder:
    description = draft.description
    if draft.transcript and draft.transcript != draft.description:
        description = f"{description}\n\nVoice note transcript: {draft.transcript}"
    return NewWorkOrder(
        title=draft.title,
        description=description,
        priority=draft.priority,
        idempotency_key=draft.idempotency_key,
        source=draft.source,
        asset_id=draft.asset_id,
        location=draft.location,
        created_by_email=reporter_email,
        assigned_to_email=None,
    )


def order_by_urgency(orders: list[WorkOrder]) -> list[WorkOrder]:
    rank = {p: i for i, p in enumerate(reversed(list(Priority)))}
    return sorted(orders, key=lambda o: (rank[o.priority], o.created_at))


WORK_ORDER_NUMBER = re.compile(r"\b[A-Z]{1,4}-?\d{3,}\b")
COMPLETION_WORDS = re.compile(r"^\s*(done|fixed|completed?|finished|sorted)\b[\s,.:;-]*", re.I)


def completion_note(text: str) -> str | None:
    """`done, replaced the seal` → `replaced the seal`; None when it is not a completion."""
    match = COMPLETION_WORDS.match(text)
    if not match:
        return None
    rest = text[match.end() :].strip()
    return rest or match.group(1)
