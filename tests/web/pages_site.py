"""The pages' site for tests: the controller's HTTP app with a real engine, the store in SQLite,
four accounts (agent1001, the supervisor zhang.wei, the quality inspector qa.zhou, the admin root) and a clock the test moves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from acd.desks import AcdConfig, AgentConfig, Desk
from acd.engine import Engine
from acd.supervision import OriginateSpy, SupervisorConfig
from events.notifier import Notifier
from events.websocket import add_events
from tickets.catalog import DEFAULT_CATALOG
from tickets.orders import WorkOrderStore
from tickets.supervision import SupervisionStore
from tickets.store import CallRecordStore
from tickets.users import UserStore
from web.access import TokenFile
from web.api import make_app
from web.login import SessionLimits, Throttle, hash_password
from web.orders import add_routes
from web.pages import add_pages
from web.supervision import add_supervision
from web.recordings import add_recordings
from recordings.config import RecordingsConfig
from recordings.store import RecordingStore
from zoneinfo import ZoneInfo
from web.sessions import Sessions

CONFIG = AcdConfig(desks=(Desk("general", "综合", "general"), Desk("market", "市场监管", "market")),
                   agents=(AgentConfig("agent1001", "甲", "PJSIP/agent1001", "1001", "1", {"general": 1}),
                           AgentConfig("agent1002", "乙", "PJSIP/agent1002", "1002", "1", {"general": 1})))
SUPERVISORS = (SupervisorConfig("zhang.wei", "张伟", "PJSIP/super2001"),)
PASSWORD = "长城-correct-horse-1"


@dataclass
class Site:
    server: TestServer
    store: UserStore
    clock: list[float]
    throttle: Throttle
    engine: Engine
    spies: list[object]
    records: CallRecordStore
    recordings: RecordingStore
    recordings_config: RecordingsConfig

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    records = CallRecordStore(f"sqlite+aiosqlite:///{tmp_path}/hotline.db")
    await records.open()
    store = UserStore(records.engine)
    clock = [1_796_300_000.0]
    for name, role in (("agent1001", "agent"), ("zhang.wei", "supervisor"), ("qa.zhou", "inspector"),
                       ("root", "admin")):
        await store.add(name, role, hash_password(PASSWORD), "", clock[0])
    throttle = Throttle(clock=lambda: clock[0])
    sessions = Sessions(store, limits=SessionLimits(idle=1800, absolute=43200), throttle=throttle,
                        wall=lambda: clock[0])
    spies: list[object] = []  # the supervisor's phone rung to spy (AMI's part is tests/integration's)
    engine = Engine({OriginateSpy: spies.append}, acd=CONFIG, supervisors=SUPERVISORS)
    notifier = Notifier()
    for kind in notifier.kinds:
        engine.observe(kind, notifier)
    app = make_app(engine, tokens=TokenFile(str(tmp_path / "tokens")), sessions=sessions, records=records)
    add_pages(app, sessions, secure_cookies=True, desks={"general": "综合", "market": "市场监管"})

    async def registered(device: str) -> bool:
        return True

    add_supervision(app, SupervisionStore(records.engine), registered, SUPERVISORS)
    add_routes(app, WorkOrderStore(records.engine, "3301", DEFAULT_CATALOG.deadlines), DEFAULT_CATALOG, records)
    add_events(app, notifier.stream, engine)  # in-process (tests/events/test_hub.py tries the hub)
    recordings = RecordingStore(records.engine)
    recordings_config = RecordingsConfig(monitor_dir=str(tmp_path / "monitor"), store_dir=str(tmp_path / "recordings"))
    add_recordings(app, recordings, recordings_config, ZoneInfo("Asia/Shanghai"))
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    running = asyncio.create_task(engine.run())
    try:
        yield Site(server, store, clock, throttle, engine, spies, records, recordings, recordings_config)
    finally:
        await server.close()
        engine.stop()
        await running
        await records.close()


def client(site: Site) -> aiohttp.ClientSession:
    # as a browser does, the client counts http://127.0.0.1 as a secure origin for Secure cookies
    origin = str(site.server.make_url("/")).rstrip("/")
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=[origin]))
