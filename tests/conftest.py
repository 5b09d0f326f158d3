"""Test-wide settings. The machines are shared and noisy: Hypothesis checks properties, not
speed, so no per-example deadline (speed is measured in bench/, never asserted here).

The run's log (issue 14, item 5): every record of every logger, DEBUG included, goes through
the controller's redacting formatter into `<basetemp>/hotline-run.log`; at the end that file
and the logs of the `hotline_pbx.py serve` processes the integration tests started
(`<basetemp>/**/serve-*.log`, tests/integration/serve.py) are scanned for any token made in
the run, any unredacted bearer credential and any full caller number. A find fails the run.
"""

from __future__ import annotations

import functools
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

import web.access
from acd.privacy import RedactingFormatter, redact

settings.register_profile("hotline", deadline=None)
settings.load_profile("hotline")

# the store's databases (SQLite and a real PostgreSQL cluster), for every folder that stores
from tests.store_fixtures import postgres, store_url  # noqa: E402,F401

TESTS = Path(__file__).resolve().parent
RUN_LOG = "hotline-run.log"
MOBILE = re.compile(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])")
BEARER = re.compile(r"(?i)\bbearer(?:\s+|%20|\+)(?!<redacted>)[A-Za-z0-9._~+/=-]{20,}")
# a line of the run log: "<date> <time>,<ms> <LEVEL> <logger>: message"; tracebacks follow it
RECORD_HEAD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (\w+)\s+(\S+): ")
_FIXTURE_LITERAL = re.compile(r"""["'](\+?[0-9]{7,})["']""")

_tokens: set[str] = set()  # every token handed out in this run (add_token, the serve fixtures)


def remember_token(token: str) -> None:
    """A token made where the wrapper of add_token cannot see it (a subprocess's CLI)."""
    _tokens.add(token)


def fixture_numbers() -> set[str]:
    """The callers' numbers the tests use: string literals of 7+ digits (landlines too)."""
    found: set[str] = set()
    for path in TESTS.rglob("*.py"):
        found.update(_FIXTURE_LITERAL.findall(path.read_text(encoding="utf-8", errors="replace")))
    return found


def _number_pattern(numbers: set[str]) -> re.Pattern[str] | None:
    """A whole run of digits equal to a fixture number, not part of a uniqueid or a decimal
    (1712345678.42 names a call: redact keeps those)."""
    if not numbers:
        return None
    alternatives = "|".join(re.escape(n) for n in sorted(numbers, key=len, reverse=True))
    return re.compile(rf"(?<![0-9])(?<![0-9]\.)(?:{alternatives})(?![0-9])(?!\.[0-9])")


def scan(paths: list[Path], tokens: set[str], numbers: set[str]) -> list[str]:
    """The offending lines, masked, each with its file and logger: tokens, bearer credentials
    not redacted, 11-digit mobiles and fixture numbers."""
    fixture = _number_pattern(numbers)
    secret = re.compile("|".join(re.escape(t) for t in sorted(tokens))) if tokens else None
    finds: list[str] = []
    for path in paths:
        logger = "?"
        with path.open(encoding="utf-8", errors="replace") as lines:
            for number, line in enumerate(lines, start=1):
                head = RECORD_HEAD.match(line)
                if head:
                    logger = head.group(2)
                why = [what for what, hit in (
                    ("a token of the run", secret is not None and secret.search(line)),
                    ("a bearer credential", BEARER.search(line)),
                    ("a mobile number", MOBILE.search(line)),
                    ("a fixture number", fixture is not None and fixture.search(line))) if hit]
                if why:
                    shown = redact(line.rstrip("\n"))
                    for token in tokens:
                        shown = shown.replace(token, "<token>")
                    finds.append(f"{path.name}:{number} [{logger}] {', '.join(why)}: {shown[:300]}")
    return finds


# the root logger's level while the run log is on: below DEBUG, and no level a test would set,
# so `AsBefore` can tell it from a level set by caplog.set_level
CAPTURE_LEVEL = 1


class AsBefore(logging.Filter):
    """On pytest's own handlers (caplog, the failure reports, --log-file): a record passes only
    if it would have reached them with the root logger at its level from before the run log,
    so caplog and the reports see what they always saw, not every DEBUG line of the run."""

    def __init__(self, root_level: int) -> None:
        super().__init__()
        self.root_level = root_level

    def filter(self, record: logging.LogRecord) -> bool:
        logger: logging.Logger | None = logging.getLogger(record.name)
        while logger is not None:
            level = logger.level
            if logger.parent is None and level == CAPTURE_LEVEL:
                level = self.root_level
            if level:
                return record.levelno >= level
            logger = logger.parent
        return True


class RunLog:
    """The session-wide capture: installed at session start, scanned at the end."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.handler = logging.FileHandler(path, encoding="utf-8")
        self.handler.setLevel(logging.DEBUG)
        self.handler.setFormatter(RedactingFormatter())
        self.root_level = logging.getLogger().level
        self.as_before = AsBefore(self.root_level)
        self.finds: list[str] = []
        self.scanned: list[Path] = []

    def install(self, plugin: Any) -> None:
        root = logging.getLogger()
        root.addHandler(self.handler)
        root.setLevel(CAPTURE_LEVEL)
        for name in ("report_handler", "log_file_handler", "log_cli_handler"):
            handler = getattr(plugin, name, None)
            if isinstance(handler, logging.Handler):
                handler.addFilter(self.as_before)

    def finish(self, basetemp: Path) -> None:
        root = logging.getLogger()
        root.removeHandler(self.handler)
        self.handler.close()
        if root.level == CAPTURE_LEVEL:
            root.setLevel(self.root_level)
        self.scanned = [self.path, *sorted(basetemp.rglob("serve-*.log"))]
        self.finds = scan(self.scanned, _tokens, fixture_numbers())


def _remembering(add_token: Any) -> Any:
    @functools.wraps(add_token)
    def wrapper(*args: Any, **kwargs: Any) -> str:
        token: str = add_token(*args, **kwargs)
        _tokens.add(token)
        return token

    return wrapper


_run_log: RunLog | None = None


def pytest_sessionstart(session: pytest.Session) -> None:
    global _run_log
    # before collection: test modules that import add_token get the remembering one
    web.access.add_token = _remembering(web.access.add_token)
    basetemp = session.config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]
    _run_log = RunLog(Path(basetemp) / RUN_LOG)
    _run_log.install(session.config.pluginmanager.get_plugin("logging-plugin"))


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_setup(item: pytest.Item) -> Any:
    _as_before(item)
    return (yield)


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    _as_before(item)
    return (yield)


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> Any:
    _as_before(item)
    return (yield)


def _as_before(item: pytest.Item) -> None:
    """caplog's handler of this phase (pytest makes one per phase, inside its own wrapper)."""
    from _pytest.logging import caplog_handler_key

    handler = item.stash.get(caplog_handler_key, None)
    if _run_log is not None and handler is not None:
        handler.addFilter(_run_log.as_before)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _run_log is None:
        return
    _run_log.finish(Path(session.config._tmp_path_factory.getbasetemp()))  # type: ignore[attr-defined]
    if _run_log.finds:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _run_log is None:
        return
    if _run_log.finds:
        terminalreporter.section("personal data or secrets in the run's log", sep="!", red=True)
        for line in _run_log.finds[:50]:
            terminalreporter.write_line(line)
        if len(_run_log.finds) > 50:
            terminalreporter.write_line(f"... and {len(_run_log.finds) - 50} more")
    terminalreporter.write_line(
        f"run log: {_run_log.path} ({len(_run_log.scanned) - 1} serve log(s) scanned with it): "
        + (f"{len(_run_log.finds)} line(s) with a token or a full number" if _run_log.finds
           else "no token, no full number"))

