"""End to end: the four services as real processes on the real broker and database (fixture in conftest.py).

A family with a spouse and two children is registered over HTTP; each service's HTTP API then shows one
letter, two intake tasks and the spouse's leads, each to the role that may see it, and the case's timeline in
registration shows all of them. Prints the time from POST to all three outputs.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter

import httpx

from tests.builders import registration


async def test_a_registered_family_gets_a_letter_two_intake_tasks_and_job_leads(system, capsys):
    borgerservice, adviser = system.headers("borgerservice"), system.headers("jobcenter_adviser")
    async with httpx.AsyncClient(timeout=10) as http:
        started = time.perf_counter()
        response = await http.post(f"{system['registration']}/registrations", json=registration(),
                                   headers=borgerservice)
        assert response.status_code == 201, response.text
        case_id = response.json()["case_id"]

        async def outputs():
            letters = (await http.get(f"{system['welcome_pack']}/letters", params={"case_id": case_id},
                                      headers=borgerservice)).json()
            leads = (await http.get(f"{system['job_match']}/leads", params={"case_id": case_id},
                                    headers=adviser)).json()
            # Intake tasks are at two units (school, daycare district): their staff find them in their own
            # queues; which units, the case timeline tells (the events school intake published).
            timeline = (await http.get(f"{system['registration']}/registrations/{case_id}/timeline",
                                       headers=borgerservice)).json()
            return letters, timeline, leads

        deadline = time.perf_counter() + 30
        while True:
            letters, timeline, leads = await outputs()
            reported = (timeline["letters"] == 1 and len(timeline["intake_tasks"]) == 2
                        and sum(timeline["job_leads_by_status"].values()) == 10)
            if (letters and reported and len(leads) == 10) or time.perf_counter() > deadline:
                break
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - started

        assert len(letters) == 1 and letters[0]["language"] == "en"
        units = {e["record_id"]: e["detail"]["unit_id"] for e in timeline["entries"] if e["kind"] == "intake_task"}
        tasks = []
        for task_id, unit in units.items():
            staff = system.headers("school_staff", unit)
            tasks.append((await http.get(f"{system['school_intake']}/intake-tasks/{task_id}", headers=staff)).json())
        assert sorted(t["kind"] for t in tasks) == ["daycare", "reception_class"]
        assert len(leads) == 10  # the sample has more than ten open welding listings
        assert all("welding" in lead["explanation"]["summary"] for lead in leads)
        assert timeline["letters"] == 1 and timeline["job_leads_by_status"] == {"new": 10}
        html = (await http.get(f"{system['welcome_pack']}/letters/{letters[0]['letter_id']}",
                               headers=borgerservice)).text
        assert "Amira Haddad" in html and "Jonas Weber" in html
        with capsys.disabled():
            print(f"\n[e2e] POST /registrations -> letter, 2 intake tasks and {len(leads)} leads stored and reported "
                  f"back on the case timeline: {elapsed * 1000:.0f} ms")

        # The same registration retried with an Idempotency-Key stays one case with one set of outputs.
        key = {"Idempotency-Key": f"e2e-{case_id}", **borgerservice}
        first = await http.post(f"{system['registration']}/registrations", json=registration(), headers=key)
        second = await http.post(f"{system['registration']}/registrations", json=registration(), headers=key)
        assert first.json()["case_id"] == second.json()["case_id"]


SIGN_IN_LINK = re.compile(r"https?://[0-9.:a-z]+/sign-in/[0-9a-f-]{36}/[a-z2-7]{26}")


async def test_a_family_turns_job_help_off_and_on_and_the_adviser_sees_it(system):
    """welcome_pack's page -> SpouseJobHelpChanged on Kafka -> job_match withdraws (and later reopens) the leads
    -> JobLeadStatusChanged -> registration's timeline counts them."""
    borgerservice, adviser = system.headers("borgerservice"), system.headers("jobcenter_adviser")
    async with httpx.AsyncClient(timeout=10) as http:
        created = await http.post(f"{system['registration']}/registrations", json=registration(),
                                  headers=borgerservice)
        case_id = created.json()["case_id"]

        async def leads_by_status(expected: dict[str, int]) -> dict[str, int]:
            deadline = time.perf_counter() + 30
            while True:
                leads = (await http.get(f"{system['job_match']}/leads", params={"case_id": case_id},
                                        headers=adviser)).json()
                timeline = (await http.get(f"{system['registration']}/registrations/{case_id}/timeline",
                                           headers=borgerservice)).json()
                found = dict(Counter(lead["status"] for lead in leads))
                if (found == expected and timeline["job_leads_by_status"] == expected) \
                        or time.perf_counter() > deadline:
                    return found | {"timeline": timeline["job_leads_by_status"]}
                await asyncio.sleep(0.1)

        assert (await leads_by_status({"new": 10}))["timeline"] == {"new": 10}
        letters = (await http.get(f"{system['welcome_pack']}/letters", params={"case_id": case_id},
                                  headers=borgerservice)).json()
        html = (await http.get(f"{system['welcome_pack']}/letters/{letters[0]['letter_id']}",
                               headers=borgerservice)).text
        link = SIGN_IN_LINK.search(html).group(0)
        async with httpx.AsyncClient(timeout=10) as family:
            assert (await family.post(link)).status_code == 303
            page = (await family.get(f"{system['welcome_pack']}/family")).text
            csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)
            off = await family.post(f"{system['welcome_pack']}/family/job-help", data={"job_help": "false",
                                                                                      "csrf": csrf})
            assert off.status_code == 303
            withdrawn = await leads_by_status({"withdrawn": 10})
            assert withdrawn == {"withdrawn": 10, "timeline": {"withdrawn": 10}}, withdrawn
            on = await family.post(f"{system['welcome_pack']}/family/job-help", data={"job_help": "true",
                                                                                     "csrf": csrf})
            assert on.status_code == 303
            reopened = await leads_by_status({"new": 10})
            assert reopened == {"new": 10, "timeline": {"new": 10}}, reopened


async def test_the_case_page_shows_how_far_the_family_has_come_with_its_plan(system):
    """welcome_pack's letter event starts the plan on registration's case page; a step the family ticks on its own
    page is counted there too (FamilyPlanProgressed), with what is overdue."""
    borgerservice = system.headers("borgerservice")
    async with httpx.AsyncClient(timeout=10) as http:
        created = await http.post(f"{system['registration']}/registrations", json=registration(),
                                  headers=borgerservice)
        case_id = created.json()["case_id"]

        async def counts(done: int) -> dict[str, int]:
            deadline = time.perf_counter() + 30
            while True:
                page = (await http.get(f"{system['registration']}/cases/{case_id}",
                                       headers={**borgerservice, "Accept": "text/html"})).text
                found = {k: int(v) for k, v in re.findall(r'data-count="(\w+)"[^>]*>(\d+)<', page)}
                if found.get("done") == done or time.perf_counter() > deadline:
                    return found
                await asyncio.sleep(0.1)

        # The builders' family arrived a month ago: its first-week steps are overdue by now.
        started = await counts(done=0)
        assert started["done"] == 0 and started["open"] > 5 and started["overdue"] >= 2, started
        letters = (await http.get(f"{system['welcome_pack']}/letters", params={"case_id": case_id},
                                  headers=borgerservice)).json()
        html = (await http.get(f"{system['welcome_pack']}/letters/{letters[0]['letter_id']}",
                               headers=borgerservice)).text
        async with httpx.AsyncClient(timeout=10) as family:
            assert (await family.post(SIGN_IN_LINK.search(html).group(0))).status_code == 303
            page = (await family.get(f"{system['welcome_pack']}/family")).text
            csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)
            ticked = await family.post(f"{system['welcome_pack']}/family/steps/cpr_registration",
                                       data={"status": "done", "csrf": csrf})
            assert ticked.status_code == 303
        after = await counts(done=1)
        assert after == {**started, "done": 1, "open": started["open"] - 1, "overdue": started["overdue"] - 1}, after
