"""Callers' numbers and names are personal data: everything that logs them masks them here."""

from __future__ import annotations


def mask_number(number: str, keep: int = 4) -> str:
    """'13800138000' → '*******8000'; short numbers (110, 12345) keep no more than half."""
    if not number:
        return "<none>"
    shown = min(keep, len(number) // 2)
    return "*" * (len(number) - shown) + number[len(number) - shown:]


def mask_name(name: str) -> str:
    """'张三丰' → '张**': the family name is enough to tell calls apart in a log."""
    if not name:
        return ""
    return name[0] + "*" * (len(name) - 1)
