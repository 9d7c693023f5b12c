"""Figures for the admins' /stats and the 30-day chart (rendered off the event loop).

With the local CMMS the figures come straight from its tables; with another CMMS only what the
CMMS port can tell (the open backlog) is shown and the rest is reported as unavailable."""

from __future__ import annotations

import asyncio
import io
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from statistics import fmean

from bot.domain import Priority, WorkOrderStatus
from integrations.cmms.port import CmmsPort
from storage.models import utcnow
from storage.uow import UnitOfWorkFactory

CHART_DAYS = 30
TOP_ASSETS = 5
PORT_SCAN_LIMIT = 1000


@dataclass(slots=True)
class Stats:
    source: str
    opened_today: int | None = None
    opened_week: int | None = None
    closed_today: int | None = None
    closed_week: int | None = None
    backlog: dict[Priority, int] = field(default_factory=dict)
    mean_ack: timedelta | None = None
    mean_complete: timedelta | None = None
    active_24h: int = 0
    active_7d: int = 0
    top_assets: list[tuple[str, int]] = field(default_factory=list)
    # (day, opened, closed) for the last CHART_DAYS days, oldest first
    daily: list[tuple[date, int, int]] = field(default_factory=list)


def day_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _mean(values: Sequence[timedelta]) -> timedelta | None:
    return timedelta(seconds=fmean(v.total_seconds() for v in values)) if values else None


class StatsService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        cmms: CmmsPort,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._uow = uow
        self._cmms = cmms
        self._clock = clock

    async def collect(self) -> Stats:
        now = self._clock()
        today = day_start(now)
        week = today - timedelta(days=today.weekday())  # since Monday, UTC
        first_day = today - timedelta(days=CHART_DAYS - 1)
        async with self._uow() as uow:
            active_24h = await uow.admin_stats.active_users_since(now - timedelta(hours=24))
            active_7d = await uow.admin_stats.active_users_since(now - timedelta(days=7))
            ack_times = [
                alert.acknowledged_at - alert.opened_at
                for alert in await uow.alerts.acknowledged_since(first_day)
                if alert.acknowledged_at is not None
            ]
        stats = (
            await self._local(today, week, first_day)
            if self._cmms.backend == "local"
            else await self._via_port(today, week, first_day)
        )
        stats.active_24h, stats.active_7d = active_24h, active_7d
        stats.mean_ack = _mean(ack_times)
        return stats

    async def _local(self, today: datetime, week: datetime, first_day: datetime) -> Stats:
        since = min(week, first_day)
        async with self._uow() as uow:
            rows = await uow.admin_stats.work_orders_touching(since)
            stats = Stats(source="local")
            opened: Counter[date] = Counter()
            closed: Counter[date] = Counter()
            durations: list[timedelta] = []
            per_asset: Counter[int] = Counter()
            for row in rows:
                if row.created_at >= first_day:
                    opened[row.created_at.date()] += 1
                    if row.asset_id is not None:
                        per_asset[row.asset_id] += 1
                done = row.status == WorkOrderStatus.COMPLETE.value and row.completed_at
                if done and row.completed_at >= first_day:
                    closed[row.completed_at.date()] += 1
                    durations.append(row.completed_at - row.created_at)
                if not done:
                    priority = Priority(row.priority)
                    stats.backlog[priority] = stats.backlog.get(priority, 0) + 1
            stats.opened_today = sum(1 for r in rows if r.created_at >= today)
            stats.opened_week = sum(1 for r in rows if r.created_at >= week)
            stats.closed_today = sum(n for day, n in closed.items() if day >= today.date())
            stats.closed_week = sum(
                1
                for r in rows
                if r.status == WorkOrderStatus.COMPLETE.value
                and r.completed_at
                and r.completed_at >= week
            )
            stats.mean_complete = _mean(durations)
            top = per_asset.most_common(TOP_ASSETS)
            names = await uow.admin_stats.asset_names([asset_id for asset_id, _ in top])
        stats.top_assets = [(names.get(asset_id, f"#{asset_id}"), n) for asset_id, n in top]
        stats.daily = _days(first_day, opened, closed)
        return stats

    async def _via_port(self, today: datetime, week: datetime, first_day: datetime) -> Stats:
        orders = await self._cmms.list_open_work_orders(limit=PORT_SCAN_LIMIT)
        stats = Stats(source=self._cmms.backend)
        per_asset: Counter[str] = Counter()
        opened: Counter[date] = Counter()
        for order in orders:
            stats.backlog[order.priority] = stats.backlog.get(order.priority, 0) + 1
            if order.asset_name:
                per_asset[order.asset_name] += 1
            if order.created_at >= first_day:
                opened[order.created_at.astimezone(UTC).date()] += 1
        stats.top_assets = per_asset.most_common(TOP_ASSETS)
        stats.daily = _days(first_day, opened, Counter())
        return stats


def _days(
    first_day: datetime, opened: Counter[date], closed: Counter[date]
) -> list[tuple[date, int, int]]:
    days = [first_day.date() + timedelta(days=i) for i in range(CHART_DAYS)]
    return [(day, opened.get(day, 0), closed.get(day, 0)) for day in days]


def render_chart(daily: Sequence[tuple[date, int, int]]) -> bytes:
    """A PNG of work orders opened and closed per day. CPU-bound: call via asyncio.to_thread."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(8, 3.6), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    days = [day for day, _, _ in daily]
    positions = range(len(days))
    width = 0.4
    axes.bar([p - width / 2 for p in positions], [o for _, o, _ in daily], width, label="Opened")
    axes.bar([p + width / 2 for p in positions], [c for _, _, c in daily], width, label="Closed")
    ticks = list(positions)[:: max(1, len(days) // 10)]
    axes.set_xticks(ticks, [days[i].strftime("%d %b") for i in ticks], fontsize=8)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_title(f"Work orders, last {len(days)} days (UTC)")
    axes.legend(loc="upper left")
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


async def chart_png(daily: Sequence[tuple[date, int, int]]) -> bytes:
    return await asyncio.to_thread(render_chart, daily)
