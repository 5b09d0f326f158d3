#!/usr/bin/env python3
"""hotline_pbx — the 12345 hotline controller: composition root and command line.

Loads the configuration, builds the edges (AMI client, FastAGI server, call-record store) and the
engine, wires them together and runs. No call logic lives here.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from aiohttp import web

import hotline_config
from hotline_config import Config, ConfigError

REPO = Path(__file__).resolve().parent
SANDBOX_CONFIG = REPO / "sandbox.toml"

log = logging.getLogger("hotline")


# ---- wiring ----------------------------------------------------------------------------------

class Controller:
    """The running controller: engine + AMI link + FastAGI server + record writer."""

    def __init__(self, config: Config, notify: Callable[[object], None] | None = None) -> None:
        from acd.commands import CallArrived, CallEnded, SaveAgentSession, WriteCallRecord
        from acd.engine import Engine, NoteHandover
        from acd.handover import Department, HandoverChanged, HandoverPlan, HangUpLeg, MoveLegs
        from acd.lines import DialLine, HangUpLine
        from acd.security import BlockAddress, FloodGuard, UnblockAddress
        from security.firewall import NftFirewall
        from acd.acd import AgentChanged, CallAnswered, OfferCall, QueueRefused
        from ivr.agent_codes import make_agent_codes
        from ivr.announce import make_announce
        from ivr.intake import make_intake
        from ivr.survey import make_survey
        from pbx.fastagi import FastAgiServer
        from pbx.link import AgiLink, AmiLink
        from callback.book import CallbackBook, RetryPolicy
        from callback.flow import CallbackFlow, DialCallback, SaveCallback
        from callback.saver import CallbackSaver
        from callback.store import CallbackStore
        from tickets.agent_sessions import AgentSessionStore
        from tickets.supervision import SupervisionStore
        from acd.supervision import HangupChannels, OriginateSpy, RedirectSpy, SaveAudit, SaveMonitorSession
        from ivr.supervise import make_supervise
        from tickets.orders import WorkOrderStore
        from tickets.saves import SaveLoop
        from tickets.store import CallRecordStore
        from tickets.writer import CallRecordWriter

        self.config = config
        zone = config.city.zone()  # the city's clock: business hours, night plan, days, order numbers
        self.store = CallRecordStore(config.store.url)
        self.orders = WorkOrderStore(self.store.engine, config.store.city_code, config.orders.deadlines)
        self.callback_store = CallbackStore(self.store.engine)
        self.callback_saver = CallbackSaver(self.callback_store)
        self.agent_sessions = AgentSessionStore(self.store.engine)
        self.session_saver = SaveLoop(self.agent_sessions.save, "agents' sessions", lambda effect: effect.session)
        from acd.history import Transition
        from tickets.agent_history import AgentHistoryStore

        self.agent_history = AgentHistoryStore(self.store.engine)
        self.history_saver = SaveLoop(self.agent_history.save, "agents' history",
                                      lambda fact: (fact.agent_id, Transition(fact.data["since"], fact.data["state"],
                                                                             fact.data["reason"])))
        self.supervision_store = SupervisionStore(self.store.engine)
        self.supervision_saver = SaveLoop(self.supervision_store.save_sessions, "monitoring sessions",
                                          lambda effect: effect.record)
        self.audit_saver = SaveLoop(self.supervision_store.add_audit, "supervisors' audit", lambda effect: effect.entry)
        configured = frozenset(n.strip() for n in config.callbacks.do_not_call.split(",") if n.strip())
        book = CallbackBook(RetryPolicy(config.callbacks.attempts, config.callbacks.spacing, config.callbacks.window),
                            do_not_call=configured, configured=configured)
        self.writer = CallRecordWriter(self.store, batch_size=config.store.batch_size,
                                       max_delay=config.store.max_delay,
                                       journal=Path(config.store.journal) if config.store.journal else None)
        from events.notifier import Notifier

        self.notifier = Notifier()
        self.engine = Engine({WriteCallRecord: lambda effect: self.writer.submit(effect.record),
                              OfferCall: lambda effect: self.ami.offer(effect),
                              QueueRefused: lambda effect: self.ami.refuse(effect),
                              SaveCallback: self.callback_saver.submit,
                              SaveAgentSession: self.session_saver.submit,
                              OriginateSpy: lambda effect: self.ami.originate_spy(effect),
                              RedirectSpy: lambda effect: self.ami.redirect_spy(effect),
                              HangupChannels: lambda effect: self.ami.hangup_channels(effect),
                              SaveMonitorSession: self.supervision_saver.submit,
                              SaveAudit: self.audit_saver.submit,
                              DialCallback: lambda effect: self.ami.dial_callback(
                                  effect, config.acd.ring_timeout, config.dialplan.outbound_callerid),
                              MoveLegs: lambda effect: self.ami.move_legs(effect),
                              HangUpLeg: lambda effect: self.ami.hang_up_leg(effect),
                              DialLine: lambda effect: self.ami.dial_line(effect, config.dialplan.outbound_callerid),
                              HangUpLine: lambda effect: self.ami.hang_up_line(effect),
                              NoteHandover: lambda effect: self._spawn(self._note_handover(effect), "handover-note"),
                              BlockAddress: lambda effect: self._firewall(self.firewall.block(effect.address, effect.seconds)),
                              UnblockAddress: lambda effect: self._firewall(self.firewall.unblock(effect.address))},
                             acd=config.acd, wait_for_link=True, city_tz=config.city.time_zone,
                             handover_plan=HandoverPlan(
                                 dict(config.dialplan.emergency), config.dialplan.emergency_prefix,
                                 {d.code: Department(d.code, d.name, d.phone) for d in config.orders.departments}),
                             supervisors=config.supervisors,
                             guard=FloodGuard(config.security.threshold, config.security.window,
                                              config.security.block_for, config.security.allowed()),
                             callbacks=CallbackFlow(book, business_hours=lambda epoch: config.callbacks.in_business_hours(
                                 epoch, zone)))
        for kind in self.notifier.kinds:  # the fact stream out (events/): observed, never waited for
            self.engine.observe(kind, self.notifier)
            if notify is not None:
                self.engine.observe(kind, notify)
        from events.metrics import Metrics

        self.metrics = Metrics(self.engine, self.notifier.stream, self._health)
        # every agent state change to the store (the day's per-agent figures); memory keeps the current one
        self.notifier.stream.listen(lambda fact: self.history_saver.submit(fact) if fact.kind == "agent.state" else None)
        # with [events] mqtt_host the fact stream goes to that broker too; with [events] hub (the
        # default) the websocket clients and MQTT are served by the events hub's process
        mqtt = ({"host": config.events.mqtt_host, "port": config.events.mqtt_port, "site": config.events.site,
                 "username": config.events.mqtt_user, "password": config.events.mqtt_password(),
                 "personal_data": config.events.personal_data, "reconnect_max": config.events.reconnect_max}
                if config.events.mqtt_host else None)
        self.mqtt: Any = None
        self.hub: Any = None
        if config.events.hub:
            from events.hub import HubLink

            self.hub = HubLink(self.notifier.stream, mqtt)
        elif mqtt is not None:
            from events.mqtt import MqttPublisher

            self.mqtt = MqttPublisher(self.notifier.stream, **mqtt)
        self.engine.step_observer = self.metrics.step.observe
        self.firewall = NftFirewall()
        self.ami = AmiLink(config.asterisk, self.engine, settled=self._settled,
                           live=lambda: {call.linkedid for call in self.engine.snapshot()},
                           ring_timeout=config.acd.ring_timeout,
                           threeway_ring_timeout=config.acd.threeway_ring_timeout,
                           record_notice=config.recordings.notice, city_zone=config.city.time_zone)
        self.agi_link = AgiLink(self.engine)
        self.agi = FastAgiServer(
            host=config.agi.bind, port=config.agi.port,
            command_timeout=config.agi.command_timeout,
            header_timeout=config.agi.header_timeout,
            max_header_bytes=config.agi.max_header_bytes,
            on_session_start=self.agi_link.session_started,
            on_session_end=self.agi_link.session_ended)
        calendar = config.orders.deadlines.calendar  # the deadlines' calendar, in the same zone
        self.agi.route("intake", make_intake(self.engine.submit, config.acd, config.intake,
                                             open_orders=self.orders.open_for_caller,
                                             link_repeat=self._link_repeat,
                                             is_holiday=calendar.is_day_off, zone=zone,
                                             record_notice=config.recordings.notice))
        offer_after = config.intake.callback_offer_after
        self.agi.route("announce", make_announce(self.engine.queue_position, self.engine.submit,
                                                 lambda linkedid: self.engine.callback_due(linkedid, offer_after)))
        self.agi.route("survey", make_survey(self.engine.submit, self.orders.record_survey,
                                             timeout=config.intake.survey_timeout,
                                             enabled=config.intake.survey, after_agent=self.engine.after_agent,
                                             requeue_lost=self.engine.requeue_lost))
        self.agi.route("agent", make_agent_codes(self.engine.request, config.acd))
        self.agi.route("supervise", make_supervise(self.engine.supervise, config.acd))
        from recordings.store import RecordingStore
        from recordings.worker import Converter

        self.recording_store = RecordingStore(self.store.engine)
        self.converter = Converter(self.recording_store, config.recordings) if config.recordings.enabled else None
        self._http: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def _link_repeat(self, order: str, linkedid: str) -> None:
        await self.orders.link_call(order, linkedid, at=datetime.now(timezone.utc), reason="repeat")

    async def _note_handover(self, note: Any) -> None:
        try:
            await self.orders.note_handover(note.call_id, note.note, by=note.by, at=note.at)
        except Exception as exc:  # the store is away: the call record still says it
            log.warning("handover of call %s not noted on its work orders: %s", note.call_id, exc)

    async def _settled(self) -> None:
        await self.engine.drained()
        await self.writer.flush()

    def _spawn(self, coro: object, name: str) -> None:
        task = asyncio.create_task(coro, name=name)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def flush_callbacks(self) -> None:
        """Until every callback entry handed over so far is in the store (tests, shutdown)."""
        await self.engine.drained()
        await self.callback_saver.flush()

    def _firewall(self, action: Any) -> None:
        if self.config.security.firewall == "nft":
            self._spawn(action, "firewall")
        else:
            action.close()  # detect and alert only

    async def start(self) -> None:
        if self.config.security.firewall == "nft":
            await self.firewall.start()
        await self.store.open()
        await self.writer.start()
        # a restart forgets no lost call
        since = datetime.now(timezone.utc) - timedelta(seconds=2 * self.config.callbacks.window)
        book = self.engine.callbacks.book
        book.restore(await self.callback_store.open_entries(), await self.callback_store.last_id(),
                     await self.callback_store.recently_booked(since))
        book.do_not_call |= {o.number for o in await self.callback_store.do_not_call()}
        self.engine.restore_agents(await self.agent_sessions.load())  # nobody logs in again
        closed = await self.supervision_store.close_open(datetime.now(timezone.utc))  # tracked in memory only
        if closed:
            log.info("closed %d monitoring session(s) left open by the previous run", closed)
        from acd.kpis import local_day_bounds

        today = datetime.now(self.engine.today.zone).date()  # the day's figures go on counting
        self.engine.restore_records(await self.store.arrived_between(*local_day_bounds(today, self.engine.today.zone)))
        self._spawn(self.callback_saver.run(), "callback-saves")
        self._spawn(self.session_saver.run(), "agent-session-saves")
        self._spawn(self.history_saver.run(), "agent-history-saves")
        self._spawn(self.supervision_saver.run(), "monitoring-session-saves")
        self._spawn(self.audit_saver.run(), "audit-saves")
        self._spawn(self.engine.run(), "engine")
        await self.agi.start()
        self._spawn(self.ami.run(), "ami")
        self._spawn(self.ami.sweep_journal_forever(self.config.asterisk.journal_sweep), "journal-sweep")
        self._spawn(self.store.analyze_daily(), "store-statistics")
        self._spawn(self.ami.heartbeat(), "heartbeat")
        self._spawn(self.metrics.probe_lag(), "event-loop-lag")
        if self.mqtt is not None:
            self._spawn(self.mqtt.run(), "mqtt")
        if self.hub is not None:
            self._spawn(self.hub.run(), "events-hub")
            try:  # before the API opens: a websocket client asking meanwhile would get 503
                await asyncio.wait_for(self.hub.ready.wait(), 10.0)
            except TimeoutError:
                log.warning("events hub: not started within 10 s; /api/events answers 503 until it is")
        self._spawn(self.notifier.desk_beat(self._desk_figures), "desk-figures")
        if self.converter is not None:
            self._spawn(self.converter.run(), "recordings")
            self._spawn(self.converter.purge_daily(self.config.city.zone()), "recordings-retention")
        if self.config.http.port:
            from web.access import TokenFile
            from web.api import make_app
            from web.orders import add_routes

            tokens = TokenFile(self.config.http.tokens)
            if not tokens.current().grants:
                if tokens.error:
                    log.error("API: %s", tokens.error)
                log.warning("API: no tokens in %s, every request will be refused; make one with "
                            "`hotline_pbx.py api-token add --role supervisor --name NAME`", tokens.path)
            from tickets.users import UserStore
            from web.login import SessionLimits
            from web.pages import add_pages
            from web.sessions import Sessions

            sessions = Sessions(UserStore(self.store.engine), limits=SessionLimits(self.config.http.idle_timeout,
                                                                                    self.config.http.session_max))
            app = make_app(self.engine, self.orders, self.callback_store, tokens, records=self.store,
                           history=self.agent_history, sessions=sessions)
            add_pages(app, sessions, secure_cookies=self.config.http.secure_cookies,
                      desks={desk.name: desk.label for desk in self.config.acd.desks},
                      wrap_up={desk.name: desk.wrap_up for desk in self.config.acd.desks})
            add_routes(app, self.orders, self.config.orders, self.store)
            from web.supervision import add_supervision
            add_supervision(app, self.supervision_store, self.ami.phone_registered, self.config.supervisors)
            from events.websocket import add_events
            add_events(app, self.notifier.stream, self.engine, hub=self.hub)
            from web.recordings import add_recordings
            add_recordings(app, self.recording_store, self.config.recordings, self.config.city.zone())
            self.metrics.serve(app)
            self._http = web.AppRunner(app, access_log=None)
            await self._http.setup()
            await web.TCPSite(self._http, self.config.http.bind, self.config.http.port).start()
        log.info("controller running: FastAGI %s:%d, AMI %s:%d, store %s", self.config.agi.bind,
                 self.config.agi.port, self.config.asterisk.ami_host, self.config.asterisk.ami_port,
                 self.config.store.url.split("://")[0])

    def _health(self) -> dict[str, float]:
        """The controller's health for /metrics."""
        loop = asyncio.get_running_loop()
        answered = self.ami.heartbeat_answered
        journal = Path(self.config.store.journal) if self.config.store.journal else None
        return {"ami_connected": float(self.ami.client.connected),
                "heartbeat_age_seconds": round(loop.time() - answered, 3) if answered else float("nan"),
                "engine_inbox_depth": float(self.engine.inbox_depth), "store_backlog": float(self.writer.pending),
                "journal_bytes": float(journal.stat().st_size) if journal is not None and journal.exists() else 0.0,
                **({"mqtt_connected": float(self.mqtt.connected)} if self.mqtt is not None else {}),
                **(self.hub.health() if self.hub is not None else {}),
                **(self.converter.health() if self.converter is not None else {})}

    def _desk_figures(self) -> dict[str, dict[str, Any]]:
        """Who waits now at each desk and its agents by state (today's counts are in /api/desks)."""
        return {desk: {**figures, "longest_wait": round(figures["longest_wait"])}
                for desk, figures in self.engine.live_figures().items()}

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.cleanup()
        if self.hub is not None:
            await self.hub.stop()
        await self.agi.close()
        await self.ami.close()
        await self.engine.drained()
        self.engine.stop()
        if self.converter is not None:  # an unfinished conversion is done again at the next start
            await self.converter.close()
        for saver in (self.callback_saver, self.session_saver, self.history_saver, self.supervision_saver,
                      self.audit_saver):  # the store may be away: not forever
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(saver.flush(), 5.0)
        await self.writer.close(timeout=5.0)  # what the database did not take stays in the journal
        await self.store.close()
        await self.firewall.stop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def _serve(config: Config) -> None:
    controller = Controller(config)
    await controller.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping")
    await controller.stop()


# ---- commands --------------------------------------------------------------------------------

def _run(main: Coroutine[Any, Any, None]) -> None:
    """uvloop when installed (bench/fastagi_sessions.py: ~2x asyncio's loop), else asyncio."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


def cmd_serve(args: argparse.Namespace) -> int:
    config = hotline_config.load(args.config)
    _logging(config.log.level)
    config.asterisk.ami_secret()  # fail now, with one line, if the secret is unreadable
    _run(_serve(config))
    return 0


def cmd_sandbox(args: argparse.Namespace) -> int:
    from devtools import sandbox

    paths = sandbox.SandboxPaths()
    if args.action == "up":
        sandbox.build_root(paths)
        sandbox.start(paths)
        problems = sandbox.config_problems(paths)
        for line in problems:
            print(f"asterisk: {line}", file=sys.stderr)
        return 1 if problems else 0
    if args.action == "down":
        sandbox.stop(paths)
        return 0
    if args.action == "status":
        print(sandbox.status(paths))
        return 0
    if args.action == "cli":
        print(sandbox.cli(paths, " ".join(args.words)), end="")
        return 0
    if args.action == "record-ami":
        from devtools.scenarios import record_ami

        _logging("INFO")
        out = Path(args.out)
        asyncio.run(record_ami(Controller, hotline_config.load(SANDBOX_CONFIG), out, args.scenario))
        print(f"recorded {out} ({out.stat().st_size} bytes)")
        return 0
    raise AssertionError(args.action)


def cmd_demo(args: argparse.Namespace) -> int:
    from devtools import sandbox
    from devtools.scenarios import demo

    config = hotline_config.load(args.config)
    # the demo narrates itself; the controller's own log shows warnings only (or all, -v)
    _logging("INFO" if args.verbose else "WARNING")
    if config.http.port:
        from web.access import Role, add_token, remove_token

        remove_token(config.http.tokens, "demo")  # a fresh token each run; the old one stops working
        token = add_token(config.http.tokens, Role.SUPERVISOR, "demo")
        print(f"demo: the API while the demo runs: curl -H 'Authorization: Bearer {token}' "
              f"http://127.0.0.1:{config.http.port}/api/desks", flush=True)
    broker = None
    if not config.events.mqtt_host:  # the demo shows the events on a broker of its own
        import dataclasses
        import tempfile

        from devtools.broker import Mosquitto

        if Mosquitto.available():
            broker = Mosquitto(Path(tempfile.mkdtemp(prefix="hotline-demo-mqtt-")))
            broker.start()
            config = dataclasses.replace(config, events=dataclasses.replace(
                config.events, mqtt_host="127.0.0.1", mqtt_port=broker.port, site="demo"))
    if config.events.mqtt_host:
        print(f"demo: the live events on MQTT: mosquitto_sub -h {config.events.mqtt_host} "
              f"-p {config.events.mqtt_port} -t 'hotline/#' -v", flush=True)
    if config.http.port:
        print(f"demo: the live events on the websocket: ws://127.0.0.1:{config.http.port}/api/events "
              f"(the same token); Prometheus: http://127.0.0.1:{config.http.port}/metrics", flush=True)
    paths = sandbox.SandboxPaths()
    sandbox.build_root(paths)
    sandbox.start(paths)
    try:
        _run(demo(Controller, config, calls=args.calls, citizens=args.citizens,
                  screenshots=Path(args.screenshots) if args.screenshots else None))
    finally:
        if broker is not None:
            broker.stop()
    if not args.keep_running:
        sandbox.stop(paths)
    return 0


def cmd_api_token(args: argparse.Namespace) -> int:
    from web.access import Role, TokenBook, TokenFileError, add_token, remove_token

    path = hotline_config.load(args.config).http.tokens
    if args.action == "add":
        try:
            token = add_token(path, Role(args.role), args.name)
        except (ValueError, TokenFileError) as exc:
            print(f"hotline_pbx: api-token: {exc}", file=sys.stderr)
            return 2
        print(f"{args.role} token for {args.name} (shown once; {path} keeps only its SHA-256):")
        print(token)
        return 0
    if args.action == "remove":
        try:
            removed = remove_token(path, args.name)
        except (ValueError, TokenFileError) as exc:
            print(f"hotline_pbx: api-token: {exc}; nothing was removed: fix that line first", file=sys.stderr)
            return 2
        if not removed:
            print(f"hotline_pbx: api-token: no token for {args.name!r} in {path}", file=sys.stderr)
            return 1
        print(f"removed the token of {args.name}")
        return 0
    try:
        book = TokenBook.load(path)
    except TokenFileError as exc:
        print(f"hotline_pbx: api-token: {exc}", file=sys.stderr)
        return 2
    for grant in sorted(book.grants.values(), key=lambda g: (g.role.value, g.name)):
        print(f"{grant.role.value:10} {grant.name}")
    return 0


def cmd_seats(args: argparse.Namespace) -> int:
    from pbx.ami_client import AmiError
    from seats import apply as seats_apply
    from seats.certs import CertificateError, TlsFiles, make_certificates
    from seats.credentials import Credentials, CredentialsError
    from seats.pjsip import SeatsError

    config = hotline_config.load(args.config)
    try:
        if args.action == "credentials":
            names = [s.name for s in seats_apply.roster_seats(config)]
            made, kept = Credentials(config.seats.credentials).ensure(names, rotate=args.rotate)
            print(f"{len(made)} password(s) made ({', '.join(made) or 'none'}), {len(kept)} kept, in "
                  f"{config.seats.credentials} (0600); `seats apply` hands them to Asterisk")
        elif args.action == "password":
            if sys.stdout.isatty():
                print(f"(for {args.seat} only: hand it over in person; it is never logged)", file=sys.stderr)
            print(Credentials(config.seats.credentials).password(args.seat))
        elif args.action == "certs":
            owner = None
            if ":" in args.owner:  # uid:gid, for an Asterisk whose users are not the host's (a chroot)
                uid, _, gid = args.owner.partition(":")
                owner = (int(uid), int(gid))
            elif args.owner:
                import pwd

                entry = pwd.getpwnam(args.owner)
                owner = (entry.pw_uid, entry.pw_gid)
            written = make_certificates(TlsFiles(Path(config.seats.tls_dir)), args.name, owner=owner)
            for path in written:
                print(f"wrote {path}")
            print(f"phones trust {TlsFiles(Path(config.seats.tls_dir)).ca_cert}; then `seats apply`")
        else:
            applied = asyncio.run(seats_apply.apply(config))
            print(f"{applied.path}: Asterisk loaded {len(applied.loaded)} seat(s) without a restart"
                  + (f"; home seats on TLS + SRTP: {', '.join(applied.on_tls)}" if applied.on_tls else ""))
    except (SeatsError, CredentialsError, CertificateError) as exc:
        print(f"hotline_pbx: seats: {exc}", file=sys.stderr)
        return 2
    except (TimeoutError, OSError, AmiError) as exc:
        print(f"hotline_pbx: seats: asterisk-unreachable: the AMI at {config.asterisk.ami_host}:"
              f"{config.asterisk.ami_port} did not answer ({exc or type(exc).__name__}); the file is written, "
              "reload it with `seats apply` once Asterisk is up", file=sys.stderr)
        return 1
    return 0


def cmd_records(args: argparse.Namespace) -> int:
    from acd.privacy import mask_number
    from tickets.deadlines import local_time
    from tickets.store import CallRecordStore

    config = hotline_config.load(args.config)
    zone = config.city.zone()

    async def show() -> None:
        store = CallRecordStore(config.store.url)
        await store.open()
        try:
            for record in await store.recent(args.limit):  # stored in UTC, shown on the city's clock
                answered = local_time(record.answered_at, zone).strftime("%H:%M:%S") if record.answered_at else "-"
                print(f"{local_time(record.arrived_at, zone):%Y-%m-%d %H:%M:%S}  {record.linkedid:32}  "
                      f"{mask_number(record.caller_number):>14}  → {record.dialed_number:6}  "
                      f"answered {answered:8}  {record.disposition.value:9}  "
                      f"cause {record.hangup_cause} {record.hangup_cause_text}")
        finally:
            await store.close()

    asyncio.run(show())
    return 0


def cmd_recordings(args: argparse.Namespace) -> int:
    from recordings.commands import run

    return run(args, hotline_config.load(args.config))


def _new_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    import getpass

    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise ConfigError("the two passwords differ; nothing changed")
    return first


def cmd_users(args: argparse.Namespace) -> int:
    """The pages' accounts in the store (web/login.py hashes the passwords with argon2id)."""
    from tickets.deadlines import local_time
    from tickets.store import CallRecordStore
    from tickets.users import UserError, UserStore
    from web.login import hash_password

    config = hotline_config.load(args.config)
    zone = config.city.zone()

    async def run() -> int:
        store = CallRecordStore(config.store.url)
        await store.open()  # the schema at its newest revision
        users = UserStore(store.engine)
        now = time.time()
        try:
            if args.action == "add":
                user = await users.add(args.name, args.role, hash_password(_new_password(args.password_stdin)),
                                       args.display, now)
                print(f"users: {user.name} ({user.role}) added")
            elif args.action == "password":
                await users.set_password(args.name, hash_password(_new_password(args.password_stdin)), now)
                print(f"users: {args.name}'s password set; their sessions ended")
            elif args.action in ("disable", "enable"):
                await users.set_disabled(args.name, args.action == "disable")
                print(f"users: {args.name} {args.action}d")
            elif args.action == "list":
                for user in await users.all():
                    print(f"{user.name:24} {user.role:10} {'disabled' if user.disabled else 'active':8} {user.display}")
            else:
                for entry in await users.audit_log(args.limit):
                    when = local_time(datetime.fromtimestamp(entry.at, timezone.utc), zone)
                    print(f"{when:%Y-%m-%d %H:%M:%S}  {entry.outcome:14} {entry.name:24} {entry.address}")
        except (UserError, ValueError) as exc:
            print(f"hotline_pbx: users: {exc}", file=sys.stderr)
            return 1
        finally:
            await store.close()
        return 0

    return asyncio.run(run())


def cmd_dialplan(args: argparse.Namespace) -> int:
    """Generate (or check) the number-plan part of the Asterisk dialplan from a config."""
    from dialplan.generate import FILENAME, render

    config = hotline_config.load(args.config)
    text = render(config.dialplan, Path(args.config).name)
    out = Path(args.out)
    target = out / FILENAME if out.is_dir() else out
    if args.check:
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        if current != text:
            print(f"hotline_pbx: {target} is not what {args.config} generates; run without --check",
                  file=sys.stderr)
            return 1
        print(f"{target} matches {args.config}")
        return 0
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target} ({len(config.dialplan.numbers)} hotline numbers, "
          f"{len(config.dialplan.emergency)} emergency numbers); reload: dialplan reload")
    return 0


def cmd_calendar(args: argparse.Namespace) -> int:
    """Compare the configured holidays and make-up working days with the chinese-calendar package."""
    from tickets.calendar import ReferenceUnavailable, chinese_calendar_reference, disagreements

    config = hotline_config.load(args.config)
    calendar = config.orders.deadlines.calendar
    year = args.year or datetime.now(calendar.zone).year
    try:
        reference = chinese_calendar_reference(year)
    except ReferenceUnavailable as exc:
        print(f"hotline_pbx: calendar check: {exc}", file=sys.stderr)
        return 2
    found = disagreements(calendar, reference)
    for disagreement in found:
        print(disagreement.describe(reference.source))
    if found:
        print(f"{len(found)} disagreement(s) between {config.source} and {reference.source} for {year}")
        return 1
    holidays = sum(1 for d in calendar.holidays if d.year == year)
    makeup = sum(1 for d in calendar.makeup_workdays if d.year == year)
    print(f"{config.source} agrees with {reference.source} for {year}: {holidays} holidays, "
          f"{makeup} make-up working days")
    return 0


def cmd_prompts(args: argparse.Namespace) -> int:
    """Speak the Mandarin prompts into an Asterisk sounds dir (default: the sandbox's)."""
    from ivr import prompts
    from devtools import sandbox

    texts = prompts.load_texts(Path(args.texts))
    if args.action == "list":
        for name, text in texts.files():
            print(f"{name:32} {text}")
        return 0
    out = Path(args.out) if args.out else sandbox.SandboxPaths().sounds

    def show(n: int, total: int, name: str, what: str) -> None:
        print(f"[{n:3d}/{total}] {name:32} {what}", flush=True)

    written = prompts.build(out, texts, force=args.force, only=set(args.only) if args.only else None,
                            progress=show)
    print(f"{len(written)} file(s) spoken into {out}/{prompts.PROMPT_DIR}")
    return 0


def _logging(level: str) -> None:
    """Every line through the redacting formatter (acd/privacy.py): libraries quote what they
    were sent (aiohttp a malformed request line with its `?caller=` number, or an Authorization
    header, at ERROR; SQLAlchemy its bound parameters at INFO), and none of it may reach the log
    as it came. An uncaught exception is logged the same way instead of printed raw."""
    from acd.privacy import RedactingFormatter

    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter())
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO), handlers=[handler])

    def uncaught(kind: type[BaseException], error: BaseException, trace: Any) -> None:
        log.critical("uncaught %s", kind.__name__, exc_info=(kind, error, trace))

    sys.excepthook = uncaught


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hotline_pbx.py",
        description="Controller for a 12345 government service hotline on Asterisk 22.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the controller against an Asterisk (production)")
    serve.add_argument("--config", required=True, help="TOML file (see hotline.example.toml)")
    serve.set_defaults(func=cmd_serve)

    box = sub.add_parser("sandbox", help="the real Asterisk 22 sandbox: up | down | status | cli | record-ami")
    box_sub = box.add_subparsers(dest="action", required=True, metavar="ACTION")
    box_sub.add_parser("up", help="build the root once (debootstrap sid), install asterisk-conf/, start Asterisk")
    box_sub.add_parser("down", help="stop the sandbox Asterisk")
    box_sub.add_parser("status", help="say what runs")
    cli = box_sub.add_parser("cli", help="run one Asterisk CLI command in the sandbox")
    cli.add_argument("words", nargs="+")
    rec = box_sub.add_parser("record-ami", help="record the raw AMI stream of a scripted call scenario")
    rec.add_argument("--out", required=True, help="file to write (e.g. tests/fixtures/ami/calls.raw)")
    rec.add_argument("--scenario", default="calls", choices=("calls", "ringing-fallback", "bridge", "threeway",
                                                             "supervise", "atxfer", "reachability",
                                                             "lost-connection", "persistent-line"),
                     help="calls: greeting, greeting hang-up, seat to seat; ringing-fallback: a hang-up while "
                          "the agent rings, a caller answered in the fallback queue; bridge: a citizen "
                          "bridged by AMI to another agent's consult call (the linkedid moves); threeway: a "
                          "three-way call with 110 the agent leaves, then a cold transfer to another desk; "
                          "supervise: listen, whisper, barge by DTMF; atxfer: a softphone's attended "
                          "transfer (SIP REFER with Replaces) on a seat let to for the scene; reachability: a home "
                          "seat's phone that vanishes (unreachable) and comes back while a citizen waits; "
                          "lost-connection: a home seat's network goes mid-call, the citizen is answered "
                          "by the next agent; persistent-line: an agent on one line to their mobile for the "
                          "shift takes two citizens, the carrier drops the line mid-call")
    box.set_defaults(func=cmd_sandbox)

    demo = sub.add_parser("demo", help="sandbox + controller + simulated citizens calling 12345")
    demo.add_argument("--config", default=str(SANDBOX_CONFIG))
    demo.add_argument("--calls", type=int, default=12, help="how many citizen calls to place")
    demo.add_argument("--citizens", type=int, default=3, help="how many citizen phones")
    demo.add_argument("--keep-running", action="store_true", help="leave the sandbox up afterwards")
    demo.add_argument("-v", "--verbose", action="store_true", help="show the controller's own log too")
    demo.add_argument("--screenshots", default="", metavar="DIR",
                      help="save the wallboard, console and desk pages as PNGs in DIR while calls flow")
    demo.set_defaults(func=cmd_demo)

    plan = sub.add_parser("dialplan", help="generate the number plan's Asterisk dialplan from a config")
    plan_sub = plan.add_subparsers(dest="action", required=True, metavar="ACTION")
    gen = plan_sub.add_parser("generate", help="write extensions_numbers.conf (or --check it)")
    gen.add_argument("--config", default=str(REPO / "hotline.example.toml"))
    gen.add_argument("--out", default=str(REPO / "asterisk-conf"), help="folder or file to write")
    gen.add_argument("--check", action="store_true", help="only say whether the file matches")
    plan.set_defaults(func=cmd_dialplan)

    cal = sub.add_parser("calendar", help="the working-day calendar of [orders]: check it against chinese-calendar")
    cal_sub = cal.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = cal_sub.add_parser("check", help="print every day the config and chinese-calendar disagree on; "
                                             "exit 1 when any")
    check.add_argument("--config", default=str(REPO / "hotline.example.toml"))
    check.add_argument("--year", type=int, default=None, help="default: this year in the city")
    cal.set_defaults(func=cmd_calendar)

    voice = sub.add_parser("prompts", help="the Mandarin prompts: build (espeak-ng → 8 kHz WAV) | list")
    voice_sub = voice.add_subparsers(dest="action", required=True, metavar="ACTION")
    build = voice_sub.add_parser("build", help="speak changed prompts into an Asterisk sounds dir")
    build.add_argument("--out", help="the sounds dir (default: the sandbox's /usr/share/asterisk/sounds)")
    build.add_argument("--force", action="store_true", help="speak everything again (not recorded ones)")
    build.add_argument("--only", nargs="*", help="prompt names to build")
    voice_sub.add_parser("list", help="print every prompt and its text")
    voice.add_argument("--texts", default=str(REPO / "ivr" / "prompts.toml"))
    voice.set_defaults(func=cmd_prompts)

    token = sub.add_parser("api-token", help="bearer tokens of the HTTP API: add | remove | list")
    token_sub = token.add_subparsers(dest="action", required=True, metavar="ACTION")
    which = argparse.ArgumentParser(add_help=False)
    which.add_argument("--config", default=str(SANDBOX_CONFIG), help="its [http] tokens file is used")
    add = token_sub.add_parser("add", parents=[which], help="make a token (printed once) for an agent or a supervisor")
    add.add_argument("--role", required=True, choices=("agent", "supervisor", "inspector"))
    add.add_argument("--name", required=True, help="who acts with it; for an agent, the agent id (agent1001)")
    remove = token_sub.add_parser("remove", parents=[which], help="revoke a name's token")
    remove.add_argument("--name", required=True)
    token_sub.add_parser("list", parents=[which], help="names and roles (never the tokens)")
    token.set_defaults(func=cmd_api_token)

    people = sub.add_parser("users", help="the pages' accounts: add | password | disable | enable | list | audit")
    people_sub = people.add_subparsers(dest="action", required=True, metavar="ACTION")
    store_of = argparse.ArgumentParser(add_help=False)
    store_of.add_argument("--config", default=str(SANDBOX_CONFIG), help="its [store] holds the accounts")
    new = people_sub.add_parser("add", parents=[store_of], help="an account for an agent, a supervisor or an admin")
    new.add_argument("--name", required=True, help="the login name; for an agent, the agent id (agent1001)")
    new.add_argument("--role", required=True, choices=("agent", "supervisor", "inspector", "admin"))
    new.add_argument("--display", default="", help="the name the pages show (张伟)")
    new.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    word = people_sub.add_parser("password", parents=[store_of], help="set a new password (ends its sessions)")
    word.add_argument("--name", required=True)
    word.add_argument("--password-stdin", action="store_true")
    for action, says in (("disable", "refuse its logins and end its sessions"), ("enable", "allow its logins again")):
        people_sub.add_parser(action, parents=[store_of], help=says).add_argument("--name", required=True)
    people_sub.add_parser("list", parents=[store_of], help="names, roles and whether disabled (never a hash)")
    people_sub.add_parser("audit", parents=[store_of], help="the latest logins, failed logins and logouts") \
        .add_argument("--limit", type=int, default=50)
    people.set_defaults(func=cmd_users)

    seats = sub.add_parser("seats", help="agents' SIP seats from the roster: credentials | password | certs | apply")
    seats_sub = seats.add_subparsers(dest="action", required=True, metavar="ACTION")
    site = argparse.ArgumentParser(add_help=False)
    site.add_argument("--config", required=True, help="its [seats] section and roster are used")
    cred = seats_sub.add_parser("credentials", parents=[site],
                                help="a strong password for every provisioned seat that has none (never printed)")
    cred.add_argument("--rotate", action="append", default=[], metavar="SEAT", help="give this seat a new one")
    word = seats_sub.add_parser("password", parents=[site], help="print one seat's password, to hand it over")
    word.add_argument("seat")
    certs = seats_sub.add_parser("certs", parents=[site],
                                 help="a CA (once) and the PBX's TLS certificate for home seats, in [seats] tls_dir")
    certs.add_argument("--name", action="append", required=True,
                       help="a host name or address phones reach the PBX by (repeat for more)")
    certs.add_argument("--owner", default="", help="the user Asterisk runs as, or uid:gid (it must read the key)")
    seats_sub.add_parser("apply", parents=[site],
                         help="write pjsip_seats.conf from the roster and reload PJSIP over AMI (no restart)")
    seats.set_defaults(func=cmd_seats)

    from recordings.commands import add_parser as add_recordings_parser

    add_recordings_parser(sub, str(SANDBOX_CONFIG))
    sub.choices["recordings"].set_defaults(func=cmd_recordings)

    records = sub.add_parser("records", help="list the newest call records in the store")
    records.add_argument("--config", default=str(SANDBOX_CONFIG))
    records.add_argument("--limit", type=int, default=20)
    records.set_defaults(func=cmd_records)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"hotline_pbx: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one clear line for operators; the traceback only with -v logs
        from devtools.sandbox import SandboxError

        if isinstance(exc, SandboxError):
            print(f"hotline_pbx: sandbox: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
