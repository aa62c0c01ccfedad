"""What reached Mailpit (its HTTP API), for the tests of mail."""

from __future__ import annotations

import httpx


async def mails_with(mailpit_url: str, message_id: str) -> list[dict]:
    """The stored messages with this Message-ID (a mail sent twice is stored twice)."""
    async with httpx.AsyncClient() as http:
        found = (await http.get(f"{mailpit_url}/api/v1/search", params={"query": f"message-id:{message_id}",
                                                                          "limit": 50})).json()
    return [m for m in found["messages"] if m["MessageID"] == message_id]
