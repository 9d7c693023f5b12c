"""Choosing the CMMS behind the port (CMMS_BACKEND=local|atlas) and checking on it."""

from __future__ import annotations

import logging
from typing import Protocol, runtime_checkable

import httpx

from bot.services.asset_search import AssetIndex
from bot.settings import Settings
from integrations.cmms.atlas import AtlasCmms
from integrations.cmms.local import LocalCmms
from integrations.cmms.port import CmmsPort, CmmsUnavailable
from storage.uow import UnitOfWorkFactory

logger = logging.getLogger(__name__)

ATLAS_TIMEOUT_S = 10.0
# How often the asset index is brought up to date: Atlas is polled; the local check is cheap
# (it reloads only when another process, e.g. `rivet assets import`, changed the assets).
ATLAS_INDEX_REFRESH_S = 600
LOCAL_INDEX_REFRESH_S = 60


@runtime_checkable
class RefreshableCatalog(Protocol):
    async def refresh_asset_index(self) -> int: ...


def create_cmms(
    settings: Settings,
    uow: UnitOfWorkFactory,
    *,
    asset_index: AssetIndex | None = None,
    http: httpx.AsyncClient | None = None,
) -> CmmsPort:
    """The configured CMMS; files it keeps itself go under RIVET_DATA_DIR/files."""
    files_dir = settings.rivet_data_dir / "files"
    if settings.cmms_backend == "atlas":
        # Settings validation guarantees all three when CMMS_BACKEND=atlas.
        assert settings.atlas_url and settings.atlas_email and settings.atlas_password
        return AtlasCmms(
            settings.atlas_url,
            settings.atlas_email,
            settings.atlas_password,
            files_dir=files_dir,
            timeout=ATLAS_TIMEOUT_S,
            http=http,
            frontend_url=settings.atlas_frontend_url,
            asset_index=asset_index,
        )
    return LocalCmms(uow, files_dir=files_dir, asset_index=asset_index)


def index_refresh_interval(cmms: CmmsPort) -> int:
    return ATLAS_INDEX_REFRESH_S if cmms.backend == "atlas" else LOCAL_INDEX_REFRESH_S


async def refresh_asset_index(cmms: CmmsPort) -> int | None:
    """Bring the asset index up to date; None (and a log line) when the CMMS cannot be read."""
    if not isinstance(cmms, RefreshableCatalog):
        return None
    try:
        return await cmms.refresh_asset_index()
    except CmmsUnavailable as error:
        logger.warning("CMMS (%s) asset index not refreshed: %s", cmms.backend, error.message)
        return None


async def cmms_probe(cmms: CmmsPort) -> str:
    """The /api/status line: a sentence when healthy, an exception carrying it when not."""
    health = await cmms.health()
    if not health.ok:
        logger.warning("CMMS (%s) unavailable: %s", health.backend, health.detail)
        raise CmmsUnavailable(f"{health.backend}: {health.detail}")
    return f"{health.backend}: {health.detail}"
