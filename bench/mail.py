"""The notification sender's throughput (#16): one sender sends BENCH_MAIL_COUNT due mails (default 1,000) to a
real Mailpit, over 1 connection and over NOTIFICATION_SMTP_CONNECTIONS (default 4), first directly, then through
a TCP proxy that holds every chunk BENCH_MAIL_DELAY_MS (default 10) each way: a relay in another building, as a
municipality's is. Prints mails/s and the sender's CPU ms per mail (this process: the store is FerretDB, its own
process). school_intake writes about two mails per registration, so 50 registrations/s need ~100 mails/s.
Runs on a private FerretDB and Mailpit (tests/faults/harness.py) on free ports. `make bench` runs it.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient

from bench.common import ROOT, machine
from shared.notify import Mail, NotificationSender, NotificationStore, notification
from shared.settings import ServiceSettings
from tests.faults.harness import Installation, free_port

COUNT = int(os.environ.get("BENCH_MAIL_COUNT", "1000"))
DELAY_MS = float(os.environ.get("BENCH_MAIL_DELAY_MS", "10"))
CONNECTIONS = int(os.environ.get("NOTIFICATION_SMTP_CONNECTIONS", "4"))


class DelayingProxy:
    """Forwards TCP to the SMTP server, holding every chunk `delay` seconds in each direction (order kept). Runs
    in a process of its own (`python -m bench.mail proxy <target port> <port> <delay s>`), so that its CPU is not
    counted as the sender's."""

    def __init__(self, target_port: int, port: int, delay: float):
        self.target_port, self.port, self.delay = target_port, port, delay

    async def serve(self) -> None:
        server = await asyncio.start_server(self._connection, "127.0.0.1", self.port)
        async with server:
            await server.serve_forever()

    async def _connection(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        await asyncio.gather(self._pipe(client_r, server_w), self._pipe(server_r, client_w),
                             return_exceptions=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while (item := await queue.get())[1]:
                await asyncio.sleep(max(0.0, item[0] - time.monotonic()))
                writer.write(item[1])
                await writer.drain()
            writer.close()

        delivering = asyncio.create_task(deliver())
        try:
            while chunk := await reader.read(65536):
                queue.put_nowait((time.monotonic() + self.delay, chunk))
        finally:
            queue.put_nowait((time.monotonic() + self.delay, b""))
            await delivering


def _mails(n: int) -> list[dict[str, Any]]:
    """Mails the size of school_intake's "a child for your school" notification."""
    now = datetime.now(UTC)
    text = ("Der er kommet en ny opgave til skolen: et barn, der skal starte i modtageklasse.\n"
            "Se opgaven i Velkommen: https://velkommen.herning.dk/school/tasks/" + "x" * 36 + "\n") * 4
    return [notification(f"bench:{uuid.uuid4()}", "bench", Mail(to=f"skole{i % 20}@herning.dk",
                                                                subject="Ny opgave: barn til modtageklasse",
                                                                text=text), case_id=f"c{i}", now=now)
            for i in range(n)]


async def _run(inst: Installation, smtp_port: int, connections: int) -> dict[str, float]:
    client: AsyncMongoClient = AsyncMongoClient(inst.mongodb_uri, tz_aware=True)
    try:
        store = NotificationStore(client[f"bench_mail_{uuid.uuid4().hex[:8]}"])
        await store.ensure_indexes()
        await store.add(_mails(COUNT))
        settings = ServiceSettings(service_name="bench", mongodb_uri=inst.mongodb_uri, smtp_port=smtp_port,
                                   notification_smtp_connections=connections)
        sender = NotificationSender(store, settings)
        wall, cpu = time.perf_counter(), time.process_time()
        sent = 0
        while passed := await sender.send_due():  # until a pass finds nothing to send (no count in the timing)
            sent += passed
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if left := await store.pending.count_documents({}):
            raise RuntimeError(f"{left} mails not sent (see the sender's log)")
        return {"mails": sent, "mails_per_s": round(sent / wall, 1), "cpu_ms_per_mail": round(cpu * 1000 / sent, 2)}
    finally:
        await client.close()


async def main() -> None:
    results: dict[str, Any] = {"machine": machine(), "count": COUNT, "delay_ms_each_way": DELAY_MS, "runs": {}}
    with tempfile.TemporaryDirectory(prefix="velkommen-bench-mail-") as tmp:
        inst = Installation(Path(tmp))
        inst.start_db()
        inst.start_mail()
        proxy_port = free_port()
        proxy = _start_proxy(inst.smtp_port, proxy_port)
        try:
            await _wait_for_port(proxy_port)
            for route, port in (("direct", inst.smtp_port), (f"+{DELAY_MS:g} ms each way", proxy_port)):
                for connections in sorted({1, CONNECTIONS}):
                    run = await _run(inst, port, connections)
                    results["runs"][f"{route}, {connections} connection(s)"] = run
                    print(f"[mail] {route:>18}, {connections} connection(s): {run['mails_per_s']:7.1f} mails/s, "
                          f"sender CPU {run['cpu_ms_per_mail']:.2f} ms/mail", flush=True)
        finally:
            proxy.terminate()
            proxy.wait(timeout=10)
            inst.stop_db()
            inst.stop_mail()
    out = ROOT / "bench" / "results" / f"mail-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"[mail] written to {out.relative_to(ROOT)}")


def _start_proxy(target_port: int, port: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bench.mail", "proxy", str(target_port), str(port),
                             str(DELAY_MS / 1000)], cwd=ROOT)


async def _wait_for_port(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


if __name__ == "__main__":
    if sys.argv[1:2] == ["proxy"]:
        target, port, delay = sys.argv[2:5]
        asyncio.run(DelayingProxy(int(target), int(port), float(delay)).serve())
    else:
        asyncio.run(main())
