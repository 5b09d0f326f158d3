"""Per-agent SIP credentials: one strong password per seat, in one 0600 file outside the checkout.

The file is the only place a password exists on the controller's side: `seats apply` copies
each into the PJSIP configuration Asterisk reads (0640, Asterisk's group), and no command,
log line or API answer ever shows one, except `seats password <id>` on a terminal for the
administrator who hands it to the agent.
"""

from __future__ import annotations

import re
import secrets
import tomllib
from collections.abc import Iterable
from pathlib import Path

from tickets.files import replace_private, tighten

IN_CHECKOUT = "credentials-in-checkout"
BAD_FILE = "bad-credentials-file"
UNKNOWN_SEAT = "unknown-seat"
PASSWORD_BYTES = 24  # 32 URL-safe characters: beyond any online guessing, fine for softphone forms
CHECKOUT = Path(__file__).resolve().parents[1]
_SEAT = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class CredentialsError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class Credentials:
    """The seats' passwords in `path` (a TOML table `seat = "password"`)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        resolved = self.path.resolve()
        if resolved == CHECKOUT or CHECKOUT in resolved.parents:
            raise CredentialsError(IN_CHECKOUT, f"{self.path} is inside the project's checkout; "
                                   "keep credentials outside it (e.g. /etc/hotline-pbx/sip-credentials)")

    def read(self) -> dict[str, str]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        tighten(self.path)
        try:
            table = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise CredentialsError(BAD_FILE, f"{self.path}: {exc}") from None
        if not all(isinstance(v, str) and _SEAT.fullmatch(k) for k, v in table.items()):
            raise CredentialsError(BAD_FILE, f"{self.path}: every line must be seat = \"password\"")
        return dict(table)

    def ensure(self, seats: Iterable[str], *, rotate: Iterable[str] = ()) -> tuple[list[str], list[str]]:
        """A password for every seat that has none (and a new one for each of `rotate`).
        Returns (made, kept) seat names; the passwords stay in the file."""
        table = self.read()
        wanted = list(dict.fromkeys(seats))
        renew = set(rotate)
        for seat in [*wanted, *renew]:
            if not _SEAT.fullmatch(seat):
                raise CredentialsError(UNKNOWN_SEAT, f"{seat!r} is not a seat name")
        unknown = renew - set(wanted)
        if unknown:
            raise CredentialsError(UNKNOWN_SEAT, f"not in the provisioned roster: {', '.join(sorted(unknown))}")
        made = [s for s in wanted if s not in table or s in renew]
        for seat in made:
            table[seat] = secrets.token_urlsafe(PASSWORD_BYTES)
        if made:
            replace_private(self.path, "# SIP passwords of the seats (hotline_pbx.py seats credentials); 0600, never commit\n"
                            + "".join(f'{seat} = "{table[seat]}"\n' for seat in sorted(table)))
        return made, [s for s in wanted if s not in made]

    def password(self, seat: str) -> str:
        try:
            return self.read()[seat]
        except KeyError:
            raise CredentialsError(UNKNOWN_SEAT, f"{seat} has no password yet (hotline_pbx.py seats credentials)") from None
