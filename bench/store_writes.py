"""Store throughput and search latency, SQLite and PostgreSQL in one run.

1. Call records through the real writer (batches, insert-or-ignore), and work orders through
   WorkOrderStore.create (one transaction each, with its numbered upsert): items/s.
2. Search over N work orders (default 1,000,000, bulk-loaded): p50/p95 of typical queries
   (a caller's orders, open orders of a category by deadline, one category newest first, page 3
   of one state by offset and by cursor, a department's overdue orders), searched after the store
   is opened again and analyzed as the controller does. Only measured: nothing is EXPLAINed here.
Targets (issue 4): >= 5,000 records/s SQLite, >= 2,000/s PostgreSQL, search p95 <= 50 ms.

    .venv/bin/python bench/store_writes.py [--orders 1000000] [--records 20000]
PostgreSQL runs in a throwaway cluster on 127.0.0.1 (root, Debian's postgresql).
"""

from __future__ import annotations

import argparse
import dataclasses
import asyncio
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from acd.records import CallRecord, Disposition  # noqa: E402
from tickets.deadlines import DeadlinePolicy  # noqa: E402
from tickets.catalog import DEFAULT_RULES  # noqa: E402
from tickets.orders import NewOrder, WorkOrderStore  # noqa: E402
from tickets.search import OrderQuery, search  # noqa: E402
from tickets.schema import work_orders  # noqa: E402
from tickets.store import CallRecordStore  # noqa: E402
from tickets.writer import CallRecordWriter  # noqa: E402

T0 = datetime(2026, 11, 22, tzinfo=timezone.utc)
CATEGORIES = ("consultation", "help_request", "complaint", "report", "suggestion", "praise")
STATES = ("new", "dispatched", "accepted", "replied", "follow_up", "closed", "closed", "closed")


def postgres_cluster(tmp: Path) -> tuple[str, callable]:  # type: ignore[valid-type]
    bin_dir = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
    shutil.chown(tmp, "postgres", "postgres")
    port = 55000 + random.randint(0, 999)

    def run(*args: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *args], check=True, capture_output=True)

    run(str(bin_dir / "initdb"), "-D", str(tmp / "db"), "-U", "postgres", "--auth=trust", "-E", "UTF8",
        "--locale=C.UTF-8")
    run(str(bin_dir / "pg_ctl"), "-D", str(tmp / "db"), "-w", "-l", str(tmp / "log"),
        "-o", f"-c listen_addresses=127.0.0.1 -p {port} -k {tmp} -c synchronous_commit=on", "start")
    run(str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "bench")
    return (f"postgresql+asyncpg://postgres@127.0.0.1:{port}/bench",
            lambda: run(str(bin_dir / "pg_ctl"), "-D", str(tmp / "db"), "-m", "fast", "stop"))


def record(n: int) -> CallRecord:
    return CallRecord(f"bench-{n}", f"139{n % 10_000_000:08d}", "市民", "12345", T0, T0, T0 + timedelta(seconds=90),
                      Disposition.ANSWERED, 16, "Normal Clearing")


async def writes(url: str, records: int, orders: int) -> tuple[float, float]:
    store = CallRecordStore(url)
    await store.open()
    writer = CallRecordWriter(store, batch_size=500, max_delay=0.01)
    await writer.start()
    start = time.perf_counter()
    for n in range(records):
        writer.submit(record(n))
        if n % 1000 == 999:
            await asyncio.sleep(0)
    await writer.flush()
    records_s = records / (time.perf_counter() - start)
    await writer.close()
    work = WorkOrderStore(store.engine, "3301", DeadlinePolicy(DEFAULT_RULES))
    start = time.perf_counter()
    sem = asyncio.Semaphore(8)

    async def one(n: int) -> None:
        async with sem:
            await work.create(NewOrder(f"139{n:08d}", "", "complaint", "noise", "西湖区", "噪音扰民"),
                              by="bench", at=T0)

    await asyncio.gather(*(one(n) for n in range(orders)))
    orders_s = orders / (time.perf_counter() - start)
    await store.close()
    return records_s, orders_s


DEPARTMENTS = ("housing", "market", "hrss", "transport", "environment", "health", "education", "urban")


async def searches(url: str, total: int, rounds: int) -> dict[str, tuple[float, float]]:
    store = CallRecordStore(url)
    await store.open()
    rng = random.Random(7)
    start = time.perf_counter()
    batch = []
    async with store.engine.begin() as conn:
        await conn.execute(work_orders.delete())
    for n in range(total):
        batch.append({"number": f"9999-{n:012d}", "created_at": T0 + timedelta(seconds=n),
                      "caller_number": f"13{rng.randrange(10**9):09d}", "contact_number": "",
                      "category": rng.choice(CATEGORIES), "topic": "t", "area": "区", "content": "内容",
                      "department": rng.choice(DEPARTMENTS), "state": rng.choice(STATES), "follow_up_result": None,
                      "due_at": T0 + timedelta(hours=rng.randrange(2000)), "linkedid": None})
        if len(batch) == 20_000:
            async with store.engine.begin() as conn:
                await conn.execute(work_orders.insert(), batch)
            batch.clear()
    if batch:
        async with store.engine.begin() as conn:
            await conn.execute(work_orders.insert(), batch)
    print(f"    loaded {total:,} orders in {time.perf_counter() - start:.0f} s", flush=True)
    if url.startswith("postgresql"):  # autovacuum would, in its own time
        async with store.engine.connect() as conn:
            await conn.exec_driver_sql("ANALYZE work_orders")
    await store.close()
    # searched as the controller searches: opened again, then the statistics task it runs after start
    store = CallRecordStore(url)
    start = time.perf_counter()
    await store.open()
    print(f"    store opened over {total:,} orders in {(time.perf_counter() - start) * 1000:.0f} ms", flush=True)
    start = time.perf_counter()
    if await store.analyze():
        print(f"    statistics (the controller's background ANALYZE) in {time.perf_counter() - start:.1f} s",
              flush=True)
    page_3 = OrderQuery(state="replied", limit=50)
    for _ in range(2):  # the cursor a screen holds after pages 1 and 2 (not timed)
        page_3 = dataclasses.replace(page_3, cursor=(await search(store.engine, page_3)).next_cursor)

    now = T0 + timedelta(hours=1000)
    queries = {
        "newest orders, no filter": lambda: search(store.engine, OrderQuery(limit=50)),
        "a caller's orders": lambda: search(store.engine, OrderQuery(caller=f"13{rng.randrange(10**9):09d}", limit=20)),
        "open complaints by deadline": lambda: search(store.engine, OrderQuery(
            state="dispatched", category="complaint", sort="due_at", descending=False, limit=50)),
        "complaints, newest first": lambda: search(store.engine, OrderQuery(category="complaint", limit=50)),
        "page 3 of one state (offset)": lambda: search(store.engine, OrderQuery(state="replied", limit=50, offset=100)),
        "page 3 by cursor": lambda: search(store.engine, page_3),
        "overdue orders of one department": lambda: search(store.engine, OrderQuery(
            department=rng.choice(DEPARTMENTS), overdue_at=now, sort="due_at", descending=False, limit=50)),
    }
    out = {}
    for name, make in queries.items():
        samples = []
        for _ in range(rounds):
            t = time.perf_counter()
            await make()
            samples.append((time.perf_counter() - t) * 1000)
        out[name] = (statistics.median(samples), statistics.quantiles(samples, n=20)[-1])
    await store.close()
    return out


async def main(orders_total: int, records: int, created: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="hotline-store-bench-") as tmp:
        pg_dir = Path(tempfile.mkdtemp(prefix="hotline-bench-pg-", dir="/tmp"))  # postgres must reach it
        pg_url, pg_stop = postgres_cluster(pg_dir)
        try:
            for name, url in (("SQLite", f"sqlite+aiosqlite:///{tmp}/bench.db"), ("PostgreSQL", pg_url)):
                print(f"{name}:", flush=True)
                records_s, orders_s = await writes(url, records, created)
                target = 5000 if name == "SQLite" else 2000
                print(f"    call records {records_s:8.0f}/s (target >= {target}: "
                      f"{'met' if records_s >= target else 'NOT met'}); work orders created {orders_s:6.0f}/s",
                      flush=True)
                for query, (p50, p95) in (await searches(url, orders_total, rounds)).items():
                    print(f"    search {query:32s} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms "
                          f"(target p95 <= 50 ms: {'met' if p95 <= 50 else 'NOT met'})", flush=True)
        finally:
            pg_stop()
            shutil.rmtree(pg_dir, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--created", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=100)
    a = parser.parse_args()
    asyncio.run(main(a.orders, a.records, a.created, a.rounds))
