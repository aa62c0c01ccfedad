"""The family's overview page (/family), warm: median and p99 over BENCH_PAGE_REQUESTS (200) requests, one at a
time, against running services (`make run`). A family is registered through the API, its sign-in link read from
its letter, and the page asked for after 20 warm-up requests.

    .venv/bin/python -m bench.family_page            # prints the figures
"""

from __future__ import annotations

import os
import re
import statistics
import time

import httpx

from shared.auth import DevIssuer
from tests.builders import child, registration

REGISTRATION = os.environ.get("REGISTRATION_URL", "http://127.0.0.1:8001")
WELCOME_PACK = os.environ.get("WELCOME_PACK_URL", "http://127.0.0.1:8002")
KEY_FILE = os.environ.get("AUTH_DEV_KEY_FILE", ".data/dev-auth/signing-key.pem")


def main() -> None:
    requests = int(os.environ.get("BENCH_PAGE_REQUESTS", "200"))
    staff = {"Authorization": "Bearer " + DevIssuer(KEY_FILE).token("borgerservice", audience="velkommen")}
    body = registration(preferred_language="ar", children=[child("Lina Haddad", "2016-03-05"),
                                                           child("Omar Haddad", "2024-06-20")])
    case_id = httpx.post(f"{REGISTRATION}/registrations", json=body, headers=staff, timeout=10).json()["case_id"]
    deadline = time.monotonic() + 30
    while not (letters := httpx.get(f"{WELCOME_PACK}/letters", params={"case_id": case_id}, headers=staff).json()):
        if time.monotonic() > deadline:
            raise SystemExit("no letter within 30 s: is `make run` up?")
        time.sleep(0.3)
    html = httpx.get(f"{WELCOME_PACK}/letters/{letters[0]['letter_id']}", headers=staff).text
    link = re.search(r"https?://[^<\"]+/sign-in/[0-9a-f-]{36}/[a-z2-7]{26}", html)
    if link is None:
        raise SystemExit("no sign-in link in the letter")
    with httpx.Client(base_url=WELCOME_PACK) as family:
        path = link.group(0).split("/sign-in/", 1)[1]
        assert family.post(f"/sign-in/{path}").status_code == 303
        for _ in range(20):
            assert family.get("/family").status_code == 200
        times = []
        for _ in range(requests):
            started = time.perf_counter()
            response = family.get("/family")
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
    times.sort()
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    print(f"family overview (/family, ar, 2 children), {requests} requests one at a time, warm: "
          f"median {statistics.median(times):.1f} ms, p99 {p99:.1f} ms, max {times[-1]:.1f} ms")


if __name__ == "__main__":
    main()
