"""Waiting for a condition, never for a fixed time (the machines are shared and noisy)."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable


async def wait_until(predicate: Callable[[], object], *, timeout: float = 15.0, what: str = "condition") -> None:
    """`predicate` may be a coroutine function (a store or a browser asked each time)."""
    deadline = time.monotonic() + timeout
    while True:
        met = predicate()
        if inspect.isawaitable(met):
            met = await met
        if met:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)
