"""What reached Mailpit (its HTTP API), for the tests of mail."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def private_mailpit(data_dir: Path, allowed_recipients: str) -> Iterator[tuple[int, str]]:
    """A Mailpit of the test's own that refuses (550) every recipient not matching `allowed_recipients`:
    (its SMTP port, its API URL)."""
    smtp, http = free_port(), free_port()
    env = {**os.environ, "MAILPIT_SMTP_PORT": str(smtp), "MAILPIT_HTTP_PORT": str(http),
           "VELKOMMEN_DATA_DIR": str(data_dir), "MAILPIT_FLAGS": f"--smtp-allowed-recipients {allowed_recipients}"}
    script = str(ROOT / "deploy" / "mailpit.sh")
    subprocess.run([script, "start"], env=env, check=True, capture_output=True)
    try:
        yield smtp, f"http://127.0.0.1:{http}"
    finally:
        subprocess.run([script, "stop"], env=env, check=False, capture_output=True)


async def mails_with(mailpit_url: str, message_id: str) -> list[dict]:
    """The stored messages with this Message-ID (a mail sent twice is stored twice)."""
    async with httpx.AsyncClient() as http:
        found = (await http.get(f"{mailpit_url}/api/v1/search", params={"query": f"message-id:{message_id}",
                                                                          "limit": 50})).json()
    return [m for m in found["messages"] if m["MessageID"] == message_id]
