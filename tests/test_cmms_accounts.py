"""Issue 4: provisioning gives a paying user an account in Atlas (`atlas_user_id`), once; a user
that Atlas could not take at the time gets it later from the scheduler job."""

# ruff: noqa: F811  (fixtures imported from tests.billing_support are used as arguments)

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bot.emulator import BotApiEmulator
from bot.settings import Settings
from tests.billing_support import (  # noqa: F401  (fixtures)
    checkout_completed,
    deliver,
    fake_stripe,
    start_billing_rivet,
)
from tests.conftest import TEST_ADMIN_KEY, RivetHarness
from tests.fakes.atlas import FakeAtlas, rivet_settings
from tests.fakes.stripe_api import FakeStripe

AUTH = {"Authorization": f"Bearer {TEST_ADMIN_KEY}"}


@pytest.fixture
async def rivet_on_atlas(
    emulator: BotApiEmulator,
    make_settings: Callable[..., Settings],
    fake_stripe: FakeStripe,
    fake_atlas: FakeAtlas,
) -> AsyncIterator[RivetHarness]:
    harness = await start_billing_rivet(
        emulator, make_settings, fake_stripe, **rivet_settings(fake_atlas)
    )
    yield harness
    await harness.runtime.stop()


def atlas_users_with(fake_atlas: FakeAtlas, email: str) -> list[dict[str, Any]]:
    return [user for user in fake_atlas.users.values() if user["email"] == email]


async def provision(rivet: RivetHarness, email: str) -> tuple[int, Any]:
    body = {"email": email, "subscription_tier": "pro"}
    status, answer, _ = await rivet.http("POST", "/api/users/provision", json=body, headers=AUTH)
    return status, answer


async def looked_up(rivet: RivetHarness, user_id: int) -> Any:
    status, answer, _ = await rivet.http("GET", f"/api/users/{user_id}", headers=AUTH)
    assert status == 200
    return answer


async def test_provisioning_creates_the_atlas_user_once(
    rivet_on_atlas: RivetHarness, fake_atlas: FakeAtlas
) -> None:
    status, first = await provision(rivet_on_atlas, "Bea@Plant.example")
    assert status == 201
    [created] = atlas_users_with(fake_atlas, "bea@plant.example")
    assert first["atlas_user_id"] == created["id"]
    assert fake_atlas._role_code(created["role_id"]) == "TECHNICIAN"

    status, again = await provision(rivet_on_atlas, "bea@plant.example")
    assert status == 200
    assert (again["user_id"], again["atlas_user_id"]) == (first["user_id"], first["atlas_user_id"])
    assert len(atlas_users_with(fake_atlas, "bea@plant.example")) == 1
    assert [r.path for r in fake_atlas.requests].count("/users/invite") == 1  # the second found it
    assert (await looked_up(rivet_on_atlas, first["user_id"]))["atlas_user_id"] == created["id"]


async def test_atlas_down_at_provisioning_then_the_job_creates_the_account(
    rivet_on_atlas: RivetHarness, fake_atlas: FakeAtlas
) -> None:
    fake_atlas.down = True
    status, answer = await provision(rivet_on_atlas, "cy@plant.example")
    assert status == 201 and answer["atlas_user_id"] is None  # paying never waits for Atlas
    assert answer["telegram_link"].startswith("https://t.me/")
    assert (await looked_up(rivet_on_atlas, answer["user_id"]))["atlas_user_id"] is None

    accounts = rivet_on_atlas.runtime.services.cmms_accounts
    assert await accounts.link_missing() == 0  # still down: nothing changes
    fake_atlas.down = False
    assert await accounts.link_missing() == 1
    [created] = atlas_users_with(fake_atlas, "cy@plant.example")
    assert (await looked_up(rivet_on_atlas, answer["user_id"]))["atlas_user_id"] == created["id"]
    assert await accounts.link_missing() == 0


async def test_a_checkout_buyer_gets_an_atlas_account_from_the_job(
    rivet_on_atlas: RivetHarness, fake_atlas: FakeAtlas
) -> None:
    status, _ = await deliver(rivet_on_atlas, checkout_completed(email="ada@plant.example"))
    assert status == 200
    assert atlas_users_with(fake_atlas, "ada@plant.example") == []  # the webhook never calls Atlas

    assert await rivet_on_atlas.runtime.services.cmms_accounts.link_missing() == 1
    [created] = atlas_users_with(fake_atlas, "ada@plant.example")
    assert (created["firstName"], created["lastName"]) == ("Ada", "Lovelace")
    _, found, _ = await rivet_on_atlas.http(
        "GET", "/api/users", params={"email": "ada@plant.example"}, headers=AUTH
    )
    assert found["atlas_user_id"] == created["id"]


async def test_a_user_atlas_refuses_is_left_alone_until_provisioned_again(
    rivet_on_atlas: RivetHarness, fake_atlas: FakeAtlas
) -> None:
    fake_atlas.fail_next(406, "Email already in use")  # Atlas's answer to an e-mail it won't take
    status, answer = await provision(rivet_on_atlas, "dee@plant.example")
    assert status == 201 and answer["atlas_user_id"] is None

    accounts = rivet_on_atlas.runtime.services.cmms_accounts
    asked = len(fake_atlas.requests)
    assert await accounts.link_missing() == 0
    assert len(fake_atlas.requests) == asked  # the job does not ask again about a refused user

    status, again = await provision(rivet_on_atlas, "dee@plant.example")  # an admin retries
    [created] = atlas_users_with(fake_atlas, "dee@plant.example")
    assert status == 200 and again["atlas_user_id"] == created["id"]


async def test_one_user_whose_request_hangs_does_not_hold_up_the_others(
    rivet_on_atlas: RivetHarness, fake_atlas: FakeAtlas, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_atlas.down = True
    _, stuck = await provision(rivet_on_atlas, "stuck@plant.example")
    _, fine = await provision(rivet_on_atlas, "fine@plant.example")
    fake_atlas.down = False
    accounts = rivet_on_atlas.runtime.services.cmms_accounts
    atlas = accounts._cmms

    class HangsForOne:
        """The CMMS port, except that one e-mail's request never comes back."""

        def __getattr__(self, name: str) -> Any:
            return getattr(atlas, name)

        async def ensure_user(self, email: str, name: str | None) -> Any:
            if email == "stuck@plant.example":
                await asyncio.sleep(30)
            return await atlas.ensure_user(email, name)

    monkeypatch.setattr(accounts, "_cmms", HangsForOne())
    monkeypatch.setattr(accounts, "_job_timeout_s", 0.3)
    assert await accounts.link_missing() == 1  # the stuck one first, by id; then the next
    assert (await looked_up(rivet_on_atlas, stuck["user_id"]))["atlas_user_id"] is None
    [created] = atlas_users_with(fake_atlas, "fine@plant.example")
    assert (await looked_up(rivet_on_atlas, fine["user_id"]))["atlas_user_id"] == created["id"]
