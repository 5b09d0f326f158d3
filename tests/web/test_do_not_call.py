"""Opting a number out of callbacks through the API: a real engine task, a real SQLite store and
the token guard, as the controller wires them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from acd import events as ev
from acd.desks import AcdConfig, Desk
from acd.engine import Engine
from callback.book import CallbackBook, Entry, Outcome
from callback.flow import CallbackFlow, SaveCallback
from callback.saver import CallbackSaver
from callback.store import CallbackStore
from tickets.store import CallRecordStore
from web.access import Role, TokenFile, add_token
from web.api import make_app

CONFIG = AcdConfig(desks=(Desk("general", "综合受理", "general"),), numbers={"12345": "general"})
CONFIGURED = "13900000000"


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[TestClient, Engine, CallbackStore, dict[str, str], dict[str, str]]]:
    records = CallRecordStore(f"sqlite+aiosqlite:///{tmp_path}/calls.db")
    await records.open()
    store = CallbackStore(records.engine)
    saver = CallbackSaver(store)  # as the controller wires it: every change of an entry is saved
    book = CallbackBook(do_not_call=frozenset({CONFIGURED}), configured=frozenset({CONFIGURED}))
    engine = Engine({SaveCallback: saver.submit}, acd=CONFIG, callbacks=CallbackFlow(book))
    runner = asyncio.create_task(engine.run())
    saving = asyncio.create_task(saver.run())
    SAVERS[id(engine)] = saver
    tokens = str(tmp_path / "tokens")
    boss = {"Authorization": f"Bearer {add_token(tokens, Role.SUPERVISOR, 'chen.li')}"}
    agent = {"Authorization": f"Bearer {add_token(tokens, Role.AGENT, 'agent1001')}"}
    async with TestClient(TestServer(make_app(engine, callback_store=store, tokens=TokenFile(tokens)),
                                     host="127.0.0.1")) as client:
        yield client, engine, store, boss, agent
    saving.cancel()
    await records.close()
    engine.stop()
    await runner


SAVERS: dict[int, CallbackSaver] = {}


async def saved(engine: Engine, store: CallbackStore) -> list[Entry]:
    """The callback list as the store holds it, once the engine and the saver are done."""
    await engine.drained()
    await SAVERS[id(engine)].flush()
    return await store.listing(open_only=False)


def lose(engine: Engine, uid: str, number: str) -> None:
    now = datetime.now(timezone.utc)
    engine.submit(ev.ChannelCreated(now, uid, uid, f"PJSIP/carrier-{uid}", 6, number, "", "12345", "from-trunk"))
    engine.submit(ev.CallQueued(now, uid, uid, f"PJSIP/carrier-{uid}", "general"))
    engine.submit(ev.ChannelHungUp(now, uid, uid, 16, ""))


async def test_a_supervisor_opts_a_citizen_out_and_their_open_entry_closes(api) -> None:  # type: ignore[no-untyped-def]
    client, engine, store, boss, agent = api
    lose(engine, "L1", "13800000001")
    [entry] = await saved(engine, store)
    assert entry.open

    resp = await client.post("/api/callbacks/do-not-call", json={"number": "13800000001", "note": "市民要求不再回拨"},
                             headers=boss)
    assert resp.status == 201
    body = await resp.json()
    assert body == {"number": "*******0001", "already_listed": False, "closed_entry": entry.entry_id}
    assert [e.outcome for e in await saved(engine, store)] == [Outcome.OPTED_OUT]
    assert not engine.acd.callbacks
    [kept] = await store.do_not_call()
    assert (kept.number, kept.added_by, kept.note) == ("13800000001", "chen.li", "市民要求不再回拨")
    again = await client.post("/api/callbacks/do-not-call", json={"number": "13800000001"}, headers=boss)
    assert again.status == 200 and (await again.json())["already_listed"] is True

    listed = await (await client.get("/api/callbacks/do-not-call", headers=boss)).json()
    assert [(row["number"], row["added_by"]) for row in listed] == [("*******0000", "config"), ("*******0001", "chen.li")]
    assert "13800000001" not in await (await client.get("/api/callbacks/do-not-call", headers=boss)).text()


async def test_bad_requests_agents_and_configured_numbers_are_refused_and_change_nothing(api) -> None:  # type: ignore[no-untyped-def]
    client, engine, store, boss, agent = api
    for body, code in (({"number": "abc"}, "validation-failed"), ({"number": "12"}, "validation-failed"),
                       ({}, "validation-failed"), ({"number": "13800000001", "note": "x" * 201}, "validation-failed"),
                       ({"number": "13800000001", "why": "x"}, "validation-failed"), (["13800000001"], "bad-request")):
        resp = await client.post("/api/callbacks/do-not-call", json=body, headers=boss)
        assert resp.status == 400 and (await resp.json())["error"] == code
    resp = await client.post("/api/callbacks/do-not-call", json={"number": "13800000001"}, headers=agent)
    assert resp.status == 403
    assert (await client.get("/api/callbacks/do-not-call", headers=agent)).status == 403
    resp = await client.delete(f"/api/callbacks/do-not-call/{CONFIGURED}", headers=boss)
    assert resp.status == 409 and (await resp.json())["error"] == "configured-do-not-call"
    resp = await client.delete("/api/callbacks/do-not-call/13800000002", headers=boss)
    assert resp.status == 404 and (await resp.json())["error"] == "not-on-list"
    resp = await client.post("/api/callbacks/do-not-call/remove", json={"number": CONFIGURED}, headers=boss)
    assert resp.status == 409
    resp = await client.post("/api/callbacks/do-not-call/remove", json={"number": "13800000002"}, headers=agent)
    assert resp.status == 403
    assert await store.do_not_call() == [] and engine.callbacks.book.do_not_call == {CONFIGURED}


async def test_taken_off_the_list_a_citizen_is_called_back_again(api) -> None:  # type: ignore[no-untyped-def]
    client, engine, store, boss, agent = api
    await client.post("/api/callbacks/do-not-call", json={"number": "13800000003"}, headers=boss)
    lose(engine, "L2", "13800000003")
    [closed] = await saved(engine, store)
    assert closed.outcome is Outcome.OPTED_OUT
    resp = await client.post("/api/callbacks/do-not-call/remove", json={"number": "13800000003"}, headers=boss)
    assert resp.status == 200 and await store.do_not_call() == []
    again = await client.delete("/api/callbacks/do-not-call/13800000003", headers=boss)  # the URL form
    assert again.status == 404 and (await again.json())["error"] == "not-on-list"
    lose(engine, "L3", "13800000003")
    assert [e.outcome for e in await saved(engine, store)] == [Outcome.OPTED_OUT, None]


async def test_a_store_that_went_away_answers_503_and_logs_no_number(caplog: pytest.LogCaptureFixture) -> None:
    from tickets.catalog import DEFAULT_CATALOG
    from tickets.orders import WorkOrderStore
    from web.orders import add_routes

    engine = Engine({}, acd=CONFIG)
    runner = asyncio.create_task(engine.run())
    gone = CallRecordStore("postgresql+asyncpg://hotline@127.0.0.1:9/hotline")  # nothing listens on port 9
    app = make_app(engine, callback_store=CallbackStore(gone.engine))
    add_routes(app, WorkOrderStore(gone.engine, "3301", DEFAULT_CATALOG.deadlines), DEFAULT_CATALOG, gone)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        for method, url, body in (("POST", "/api/callbacks/do-not-call", {"number": "13800000001"}),
                                  ("GET", "/api/records?caller=13800000001", None),
                                  ("POST", "/api/orders", {"caller_number": "13800000001", "category": "complaint",
                                                           "content": "噪音"})):
            resp = await client.request(method, url, json=body)
            assert resp.status == 503 and (await resp.json())["error"] == "store-unavailable"
        assert (await client.get("/api/desks")).status == 200  # the live side keeps answering
    await gone.close()
    engine.stop()
    await runner
    assert "store is unavailable" in caplog.text and "13800000001" not in caplog.text
