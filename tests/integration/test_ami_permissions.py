"""The controller's AMI user may do what the controller does and nothing more (issue 16): every
action its code sends is granted by asterisk-conf/manager.conf's write classes and every event it
reads by the read classes — as the sandbox's Asterisk itself defines them — no class is there
that nothing needs, and Asterisk refuses it the rest."""

from __future__ import annotations

import configparser
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from devtools import sandbox
from pbx.ami_client import AmiActionFailed, ami_session
from pbx.translate import CONSUMED_EVENTS

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = ("acd", "pbx", "ivr", "dialplan", "callback", "tickets", "web", "events", "recordings", "security",
              "seats")
SENT = re.compile(r"(?:send_action|send_list_action|_act)\(\s*\"([A-Z][A-Za-z]+)\"")
LIFECYCLE_EVENTS = {"FullyBooted", "Shutdown", "Reload", "MusicOnHoldStart"}  # read outside the translators


def granted_classes() -> tuple[set[str], set[str]]:
    """[hotline]'s read and write classes as asterisk-conf/manager.conf gives them."""
    parser = configparser.ConfigParser(strict=False, interpolation=None, comment_prefixes=(";", "#"))
    parser.read_string((ROOT / "asterisk-conf/manager.conf").read_text())
    section = parser["hotline"]
    return set(section["read"].split(",")), set(section["write"].split(","))


def actions_sent() -> set[str]:
    found: set[str] = set()
    for package in PRODUCTION:
        for path in (ROOT / package).rglob("*.py"):
            found |= set(SENT.findall(path.read_text()))
    found |= set(SENT.findall((ROOT / "hotline_pbx.py").read_text()))
    return found


def action_privileges(paths: sandbox.SandboxPaths, action: str) -> set[str]:
    """The classes that grant `action`, as this Asterisk says (`manager show command`)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", sandbox.cli(paths, f"manager show command {action}"))
    lines = text.splitlines()
    [at] = [i for i, line in enumerate(lines) if line.strip() == "[Privilege]"]
    value = lines[at + 1].strip()
    return set() if value == "<none>" else set(value.split(",")) - {"all"}


def event_classes(paths: sandbox.SandboxPaths) -> dict[str, set[str]]:
    tree = ET.parse(paths.root / "usr/share/asterisk/documentation/core-en_US.xml")
    classes: dict[str, set[str]] = {}
    for event in tree.getroot().iter("managerEvent"):
        for instance in event.iter("managerEventInstance"):
            flag = instance.get("class", "")
            classes.setdefault(event.get("name", ""), set()).add(flag.removeprefix("EVENT_FLAG_").lower())
    return classes


def test_every_action_the_controller_sends_is_granted_and_no_write_class_is_spare(
        sandbox_paths: sandbox.SandboxPaths) -> None:
    _, write = granted_classes()
    sent = actions_sent()
    assert {"Originate", "Redirect", "Reload", "PJSIPShowContacts", "DBGetTree"} <= sent  # the scan sees them
    needs = {action: action_privileges(sandbox_paths, action) for action in sorted(sent)}
    refused = {a: sorted(p) for a, p in needs.items() if p and not p & write}
    assert refused == {}
    spare = {c for c in write if all(not p or p & (write - {c}) for p in needs.values())}
    assert spare == set(), f"write classes nothing needs: {spare}"


def test_every_event_the_controller_reads_is_granted_and_no_read_class_is_spare(
        sandbox_paths: sandbox.SandboxPaths) -> None:
    read, _ = granted_classes()
    classes = event_classes(sandbox_paths)
    consumed = set(CONSUMED_EVENTS) | LIFECYCLE_EVENTS
    assert consumed <= set(classes), consumed - set(classes)
    missing = {e: sorted(classes[e]) for e in consumed if not classes[e] & read}
    assert missing == {}
    spare = {c for c in read if all(classes[e] & (read - {c}) for e in consumed)}
    assert spare == set(), f"read classes nothing needs: {spare}"


async def test_asterisk_refuses_the_controller_what_it_does_not_need(sandbox_paths: sandbox.SandboxPaths) -> None:
    secret = sandbox.ami_secret(sandbox_paths)
    async with ami_session("127.0.0.1", 5038, "hotline", secret, purpose="perm") as ami:
        for action, headers in (("Command", {"Command": "core show uptime"}),  # the CLI over AMI
                                ("UpdateConfig", {"SrcFilename": "pjsip.conf", "DstFilename": "pjsip.conf"}),
                                ("QueuePause", {"Interface": "PJSIP/agent1001", "Paused": "true"}),
                                ("UserEvent", {"UserEvent": "Forged"})):
            with pytest.raises(AmiActionFailed) as refused:
                await ami.send_action(action, headers)
            assert "permission denied" in str(refused.value).lower(), (action, str(refused.value))
        reloaded = await ami.send_action("Reload", {"Module": "res_pjsip.so"})  # what `seats apply` needs
        assert reloaded.get("Response") == "Success"
