"""`hotline_pbx.py seats apply`: the roster's PJSIP seats written for Asterisk and loaded with an
AMI Reload of res_pjsip (no restart: calls in progress go on), then read back from Asterisk
(PJSIPShowEndpoint) so the command says which seats really exist and on which transport."""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pbx.ami_client import AmiActionFailed, ami_session
from seats.certs import TlsFiles
from seats.credentials import Credentials
from seats.pjsip import SEATS_FILE, TLS_TRANSPORT, Seat, SeatsError, TlsTransport, inside_root, render
from tickets.files import replace_private

if TYPE_CHECKING:
    from hotline_config import Config

log = logging.getLogger("seats")

NOT_PROVISIONABLE = "seat-not-provisionable"
NO_CERTIFICATES = "no-certificates"
NOT_LOADED = "seats-not-loaded"


def roster_seats(config: Config) -> list[Seat]:
    """The seats [seats] provision names ("*": every agent and supervisor), home ones marked."""
    wanted, home = config.seats.provisioned(), config.seats.homes()
    roster = [Seat(a.agent_id, a.name, a.seat, False, False) for a in config.acd.agents]
    roster += [Seat(s.supervisor_id, s.name, s.supervisor_id.lstrip("abcdefghijklmnopqrstuvwxyz") or s.supervisor_id,
                    True, False) for s in config.supervisors]
    devices = {a.agent_id: a.device for a in config.acd.agents} | {s.supervisor_id: s.device for s in config.supervisors}
    chosen = [s for s in roster if wanted is None or s.name in wanted]
    unknown = (wanted or set()) - {s.name for s in roster}
    if unknown:
        raise SeatsError(NOT_PROVISIONABLE, f"[seats] provision names seats not in the roster: {', '.join(sorted(unknown))}")
    for seat in chosen:
        if devices[seat.name] != f"PJSIP/{seat.name}":
            raise SeatsError(NOT_PROVISIONABLE, f"{seat.name}'s device is {devices[seat.name]}, not PJSIP/{seat.name}: "
                             "only a PJSIP endpoint named after the seat can be generated")
    return [Seat(s.name, s.display, s.number, s.supervisor, home is None or s.name in home) for s in chosen]


def tls_transport(config: Config) -> TlsTransport | None:
    seats = config.seats
    if not seats.tls_bind:
        return None
    files = TlsFiles(Path(seats.tls_dir))
    if not files.complete():
        raise SeatsError(NO_CERTIFICATES, f"{seats.tls_dir} lacks ca.crt, server.crt or server.key: "
                         "run `hotline_pbx.py seats certs` (or put the site's own there)")
    return TlsTransport(bind=seats.tls_bind, cert_file=inside_root(str(files.cert), seats.asterisk_root),
                        key_file=inside_root(str(files.key), seats.asterisk_root),
                        ca_file=inside_root(str(files.ca_cert), seats.asterisk_root),
                        external_address=seats.external_address,
                        local_net=tuple(n.strip() for n in seats.local_net.split(",") if n.strip()))


def generate(config: Config) -> tuple[list[Seat], str]:
    seats = roster_seats(config)
    return seats, render(seats, Credentials(config.seats.credentials).read(), tls_transport(config),
                         config.seats.media_address)


def write(config: Config, text: str) -> Path:
    """pjsip_seats.conf in conf_dir, 0640 and of the folder's group (Asterisk's), atomically."""
    folder = Path(config.seats.conf_dir)
    target = folder / SEATS_FILE
    replace_private(target, text, mode=0o640)
    if os.geteuid() == 0:
        os.chown(target, folder.stat().st_uid, folder.stat().st_gid)
    log.info("wrote %s (gid %d)", target, target.stat().st_gid)
    return target


@dataclass(frozen=True, slots=True)
class Applied:
    path: Path
    loaded: tuple[str, ...]  # seats Asterisk knows after the reload
    on_tls: tuple[str, ...]  # of those, the ones whose endpoint names the TLS transport


async def reload_and_check(config: Config, seats: list[Seat], timeout: float = 10.0) -> tuple[str, ...]:
    """AMI Reload of res_pjsip, then each seat read back: (seats loaded, seats on the TLS transport)."""
    ami = config.asterisk
    async with ami_session(ami.ami_host, ami.ami_port, ami.ami_user, ami.ami_secret(), timeout=timeout,
                           purpose="seats") as client:
        await client.send_action("Reload", {"Module": "res_pjsip.so"})
        found: list[str] = []
        for seat in seats:
            with contextlib.suppress(AmiActionFailed):  # not loaded: its section was refused
                _, entries = await client.send_list_action("PJSIPShowEndpoint", {"Endpoint": seat.name})
                transports = {e.get("ObjectName") for e in entries if e.name == "TransportDetail"}
                if any(e.name == "EndpointDetail" for e in entries) and (not seat.home or TLS_TRANSPORT in transports):
                    found.append(seat.name)
        return tuple(found)


async def apply(config: Config) -> Applied:
    """Generate, write, reload, check; SeatsError(NOT_LOADED) names the seats Asterisk refused."""
    seats, text = generate(config)
    path = write(config, text)
    loaded = await reload_and_check(config, seats)
    missing = [s.name for s in seats if s.name not in loaded]
    if missing:
        raise SeatsError(NOT_LOADED, f"Asterisk has not loaded {', '.join(missing)} from {path} "
                         "(see its log: `pjsip show endpoint <name>`)")
    return Applied(path, loaded, tuple(s.name for s in seats if s.home))
