"""A store with calls, their recordings on disk and the work orders about them, as the
controller leaves them (call records through CallRecordStore, orders through WorkOrderStore)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from acd.records import CallRecord, Disposition
from recordings.config import RecordingsConfig
from recordings.naming import converted_name
from recordings.store import RecordingStore
from tickets.catalog import DEFAULT_CATALOG
from tickets.orders import NewOrder, WorkOrderStore
from tickets.store import CallRecordStore

CITY = ZoneInfo("Asia/Shanghai")
UTC = timezone.utc


def call_record(linkedid: str, ended_at: datetime, recording: str, *, talk: float = 60.0,
                agent: str = "agent1001") -> CallRecord:
    return CallRecord(linkedid=linkedid, caller_number="13800000001", caller_name="王芳", dialed_number="12345",
                      arrived_at=ended_at - timedelta(seconds=talk + 20), answered_at=ended_at - timedelta(seconds=talk + 18),
                      ended_at=ended_at, disposition=Disposition.ANSWERED if recording else Disposition.ABANDONED_QUEUE,
                      hangup_cause=16, recording=recording, desk="general", agent=agent if recording else "",
                      talk_time=talk if recording else None)


class World:
    def __init__(self, tmp_path: Path, url: str, config: RecordingsConfig | None = None) -> None:
        self.root = tmp_path
        self.config = config or RecordingsConfig(monitor_dir=str(tmp_path / "monitor"),
                                                 store_dir=str(tmp_path / "store"))
        self.records = CallRecordStore(url)
        self.store = RecordingStore(self.records.engine)
        self.orders = WorkOrderStore(self.records.engine, "3301", DEFAULT_CATALOG.deadlines)
        self.mark = 0

    async def open(self) -> World:
        await self.records.open()
        return self

    async def close(self) -> None:
        await self.records.close()

    def original(self, linkedid: str) -> Path:
        return Path(self.config.monitor_dir) / f"20260301/{linkedid}.wav"

    def converted(self, linkedid: str) -> Path:
        return Path(self.config.converted_dir) / converted_name(f"20260301/{linkedid}.wav", self.config.suffix)

    async def recorded_call(self, linkedid: str, ended_at: datetime, *, converted: bool = True) -> None:
        """A call whose recording the converter has done (converted file, and the original a
        crash left beside it) or given up on (`converted=False`: the original only)."""
        name = f"20260301/{linkedid}.wav"
        await self.records.write_many([call_record(linkedid, ended_at, name)])
        self.mark = await self.store.note_new_calls(self.mark, ended_at)
        for path in (self.original(linkedid), *([self.converted(linkedid)] if converted else [])):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"audio of " + linkedid.encode())
        if converted:
            await self.store.converted(linkedid, file=converted_name(name, self.config.suffix), fmt=self.config.format,
                                       duration=60.0, loudness=-23.0, silent=False, sha256="0" * 64, size=12,
                                       now=ended_at + timedelta(minutes=1))
        else:
            await self.store.attempt_failed(linkedid, "not-wav: no RIFF/WAVE header", ended_at, None)

    async def order(self, linkedid: str, category: str, at: datetime) -> str:
        """A work order about the call (opened from it)."""
        return await self.orders.create(NewOrder("13800000001", "", category, "other", "西湖区", "楼下噪音扰民",
                                                 linkedid), by="agent1001", at=at)

    def files_of(self, linkedid: str) -> list[str]:
        return [p.name for p in (self.original(linkedid), self.converted(linkedid)) if p.exists()]
