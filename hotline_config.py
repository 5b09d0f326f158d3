"""Configuration: defaults, then one TOML file, then environment; loaded once into frozen objects.

Environment overrides are `HOTLINE_<SECTION>_<KEY>` (e.g. HOTLINE_ASTERISK_AMI_PORT=5039).
Secrets are never in the TOML file itself: the AMI secret comes from `HOTLINE_AMI_SECRET` or the
file named by `ami_secret_file`.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from acd.desks import AcdConfig, AcdConfigError, parse_acd
from acd.supervision import SupervisionError, SupervisorConfig, parse_supervisors
from dialplan.plan import DialPlan, DialplanError, parse_dialplan
from ivr.config import IntakeConfig, IntakeConfigError, parse_intake
from recordings.config import RecordingsConfig, RecordingsConfigError, parse_recordings
from tickets.catalog import DEFAULT_CATALOG, Catalog, CatalogError, parse_orders
from tickets.deadlines import CITY_ZONE

CONFIG_ERROR = "config-error"


class ConfigError(ValueError):
    def __init__(self, message: str) -> None:
        super().__init__(f"{CONFIG_ERROR}: {message}")


@dataclass(frozen=True, slots=True)
class CityConfig:
    """The city's time zone: working days, the end of the working day, order-number dates,
    callback business hours, the night plan and per-day figures are all counted in it;
    timestamps are stored in UTC. An IANA name (zoneinfo; the tzdata package ships the data)."""

    time_zone: str = CITY_ZONE

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


@dataclass(frozen=True, slots=True)
class AsteriskConfig:
    ami_host: str = "127.0.0.1"
    ami_port: int = 5038
    ami_user: str = "hotline"
    ami_secret_file: str = "/etc/hotline-pbx/ami.secret"
    ping_interval: float = 5.0
    action_timeout: float = 10.0
    reconnect_max: float = 10.0
    journal_sweep: float = 30.0  # seconds between reads of Asterisk's call journal

    def ami_secret(self) -> str:
        secret = os.environ.get("HOTLINE_AMI_SECRET")
        if secret:
            return secret
        try:
            return Path(self.ami_secret_file).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read the AMI secret from {self.ami_secret_file}: "
                              f"{exc.strerror}; set HOTLINE_AMI_SECRET or ami_secret_file") from None


@dataclass(frozen=True, slots=True)
class AgiConfig:
    bind: str = "127.0.0.1"
    port: int = 4573
    command_timeout: float = 10.0
    header_timeout: float = 5.0
    max_header_bytes: int = 16384


@dataclass(frozen=True, slots=True)
class StoreConfig:
    url: str = "sqlite+aiosqlite:////var/lib/hotline-pbx/hotline.db"
    journal: str = "/var/lib/hotline-pbx/call-records.journal"  # records wait here while the DB is down
    city_code: str = "0000"  # the first part of every work-order number
    batch_size: int = 200
    max_delay: float = 0.05


@dataclass(frozen=True, slots=True)
class HttpConfig:
    bind: str = "127.0.0.1"
    port: int = 8345  # 0: do not serve the API
    tokens: str = "/etc/hotline-pbx/api-tokens"  # SHA-256 of bearer tokens: `hotline_pbx.py api-token`
    # the pages' sessions (web/login.py): cookies only over HTTPS (browsers count http://127.0.0.1 as secure)
    secure_cookies: bool = True
    idle_timeout: float = 1800.0  # seconds without a request before a page session ends
    session_max: float = 43_200.0  # seconds after login a page session ends whatever happens


@dataclass(frozen=True, slots=True)
class CallbacksConfig:
    """Missed-call callbacks (呼损回拨): retry policy and the do-not-call list."""

    attempts: int = 3  # dial attempts to the citizen before giving up
    spacing: float = 600.0  # seconds between attempts
    window: float = 86_400.0  # lost calls of one number within this make one entry
    do_not_call: str = ""  # comma-separated numbers never called back
    business_hours: str = "08:00-20:00"  # the city's local time when plain lost calls are called back

    def in_business_hours(self, epoch: float, zone: tzinfo) -> bool:
        """Whether `epoch` falls in business hours on the city's clock (`zone`: [city] time_zone),
        whatever the host's zone. Virtual-hold callbacks ignore this: the caller was promised
        their turn."""
        start, _, end = self.business_hours.partition("-")
        now = datetime.fromtimestamp(epoch, zone).strftime("%H:%M")
        return start <= now < end if start <= end else (now >= start or now < end)


@dataclass(frozen=True, slots=True)
class SecurityConfig:
    """Registration and authentication floods (issue 16): an address with `threshold` failures
    (AMI security events) within `window` seconds is blocked for `block_for` seconds."""

    threshold: int = 5
    window: float = 60.0
    block_for: float = 300.0
    allow: str = ""  # comma-separated addresses never blocked (known home seats, the carrier)
    firewall: str = "nft"  # "nft": an nftables set on this host (needs root); "": detect and alert only

    def allowed(self) -> frozenset[str]:
        return frozenset(a.strip() for a in self.allow.split(",") if a.strip())


@dataclass(frozen=True, slots=True)
class EventsConfig:
    """Live events out (events/, issue 17). With no `mqtt_host` they go to the websocket only;
    with one, to its MQTT broker too, under hotline/<site>/... (README: the topics)."""

    mqtt_host: str = ""  # e.g. "127.0.0.1"; "" no broker
    mqtt_port: int = 1883
    mqtt_user: str = ""
    mqtt_password_file: str = ""  # 0600, outside any checkout; or HOTLINE_MQTT_PASSWORD
    site: str = "hotline"  # the topics' second level: one broker may serve several centres
    personal_data: bool = False  # callers' numbers on call topics; off: masked, as on the websocket
    reconnect_max: float = 30.0  # seconds between reconnect attempts, at most
    hub: bool = True  # the websocket clients and MQTT served by the events hub, a process of its own

    def mqtt_password(self) -> str | None:
        secret = os.environ.get("HOTLINE_MQTT_PASSWORD")
        if secret:
            return secret
        if not self.mqtt_password_file:
            return None
        try:
            return Path(self.mqtt_password_file).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read the MQTT password from {self.mqtt_password_file}: "
                              f"{exc.strerror}; set HOTLINE_MQTT_PASSWORD or mqtt_password_file") from None


@dataclass(frozen=True, slots=True)
class SeatsConfig:
    """The seats' SIP phones (seats/, issue 16): which PJSIP endpoints are generated from the
    roster (`hotline_pbx.py seats apply`), which of them are home seats (TLS and SRTP), where
    the passwords and certificates are kept and where Asterisk reads the generated file."""

    provision: str = ""  # comma-separated agent and supervisor ids, "*" the whole roster, "" none
    home: str = ""  # of those, the home seats (远程居家坐席: TLS + SRTP); "*" all of them
    credentials: str = "/etc/hotline-pbx/sip-credentials"  # 0600, outside any checkout
    conf_dir: str = "/etc/asterisk"  # pjsip_seats.conf goes here (asterisk-conf/pjsip.conf includes it)
    tls_dir: str = "/etc/asterisk/keys"  # ca.crt, server.crt, server.key (`seats certs`)
    tls_bind: str = ""  # the address:port home seats register on over TLS, e.g. "203.0.113.5:5061"
    external_address: str = ""  # when Asterisk itself is behind NAT: the address phones reach
    local_net: str = ""  # comma-separated networks that are not behind that NAT
    media_address: str = ""  # the address put in SDP for the seats' audio ("" Asterisk chooses)
    asterisk_root: str = ""  # the folder Asterisk runs chrooted in (the sandbox's root); "" none

    @staticmethod
    def _ids(text: str) -> set[str] | None:
        return None if text.strip() == "*" else {i.strip() for i in text.split(",") if i.strip()}

    def provisioned(self) -> set[str] | None:
        """The seat ids to generate; None: every one of the roster."""
        return self._ids(self.provision)

    def homes(self) -> set[str] | None:
        return self._ids(self.home)


@dataclass(frozen=True, slots=True)
class LogConfig:
    level: str = "INFO"


@dataclass(frozen=True, slots=True)
class Config:
    city: CityConfig = field(default_factory=CityConfig)
    asterisk: AsteriskConfig = field(default_factory=AsteriskConfig)
    agi: AgiConfig = field(default_factory=AgiConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    log: LogConfig = field(default_factory=LogConfig)
    callbacks: CallbacksConfig = field(default_factory=CallbacksConfig)
    security: SecurityConfig = field(default_factory=SecurityConfig)
    seats: SeatsConfig = field(default_factory=SeatsConfig)
    events: EventsConfig = field(default_factory=EventsConfig)
    acd: AcdConfig = field(default_factory=AcdConfig)
    orders: Catalog = DEFAULT_CATALOG
    dialplan: DialPlan = field(default_factory=DialPlan)
    intake: IntakeConfig = field(default_factory=IntakeConfig)
    recordings: RecordingsConfig = field(default_factory=RecordingsConfig)
    source: str = "<defaults>"
    supervisors: tuple[SupervisorConfig, ...] = ()  # [[acd.supervisors]] (acd/supervision.py)


_SECTIONS: dict[str, type[Any]] = {"city": CityConfig, "asterisk": AsteriskConfig, "agi": AgiConfig,
                                   "store": StoreConfig, "http": HttpConfig, "log": LogConfig,
                                   "callbacks": CallbacksConfig, "security": SecurityConfig,
                                   "seats": SeatsConfig, "events": EventsConfig}


def _coerce(section: str, key: str, value: Any, kind: Any, where: str) -> Any:
    expected = {"int": int, "float": float, "str": str, "bool": bool}.get(str(kind), str)
    if isinstance(value, str) and expected is not str:
        try:
            value = expected(value) if expected is not bool else value.lower() in ("1", "true", "yes")
        except ValueError:
            raise ConfigError(f"{where}: [{section}] {key} must be {expected.__name__}, "
                              f"got {value!r}") from None
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise ConfigError(f"{where}: [{section}] {key} must be {expected.__name__}, got {value!r}")
    return value


def _build(data: Mapping[str, Any], env: Mapping[str, str], where: str, text: str = "") -> Config:
    unknown = set(data) - set(_SECTIONS) - {"acd", "orders", "dialplan", "intake", "recordings"}
    if unknown:
        raise ConfigError(f"{where}: unknown section(s) {', '.join(sorted(unknown))}")
    sections: dict[str, Any] = {}
    for name, cls in _SECTIONS.items():
        given = dict(data.get(name, {}))
        fields = {f.name: f.type for f in dataclasses.fields(cls)}
        for key in set(given) - set(fields):
            raise ConfigError(f"{where}: unknown key [{name}] {key}")
        for key in fields:
            env_key = f"HOTLINE_{name.upper()}_{key.upper()}"
            if env_key in env:
                given[key] = env[env_key]
        sections[name] = cls(**{k: _coerce(name, k, v, fields[k], where) for k, v in given.items()})
    try:
        zone = sections["city"].zone()
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{where}: [city] time_zone {sections['city'].time_zone!r} is not a time zone "
                          f"(an IANA name such as {CITY_ZONE!r})") from None
    try:
        acd = parse_acd(data.get("acd", {}), text=text, where=where)
    except AcdConfigError as exc:
        raise ConfigError(str(exc)) from None
    try:
        orders = parse_orders(data.get("orders", {}), where, zone)
    except CatalogError as exc:
        raise ConfigError(str(exc)) from None
    try:
        plan = parse_dialplan(data.get("dialplan", {}), acd.numbers, where)
    except DialplanError as exc:
        raise ConfigError(str(exc)) from None
    try:
        intake = parse_intake(data.get("intake", {}), tuple(d.name for d in acd.desks), where)
    except IntakeConfigError as exc:
        raise ConfigError(str(exc)) from None
    try:
        supervisors = parse_supervisors(data.get("acd", {}).get("supervisors", []), where)
    except SupervisionError as exc:
        raise ConfigError(str(exc)) from None
    try:
        recordings = parse_recordings(data.get("recordings", {}), orders.category_codes(), where, env)
    except RecordingsConfigError as exc:
        raise ConfigError(str(exc)) from None
    return Config(**sections, acd=acd, orders=orders, dialplan=plan, intake=intake, recordings=recordings,
                  source=where, supervisors=supervisors)


def load(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read the TOML file (if any) once and return the frozen configuration."""
    env = os.environ if env is None else env
    if path is None:
        return _build({}, env, "<defaults>")
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return _build(data, env, str(path), text)
