"""The family's own pages in a real browser (Playwright driving Debian's Chromium) against the four running
services: an Arabic-speaking and a Chinese-speaking family each open the sign-in link taken from their letter's
PDF text, see their plan (right-to-left in Arabic), tick a step, and see their child's school intake as
school_intake's events report it. Borgerservice then follows the Arabic family's plan in Danish. Screenshots go
to test-artifacts/family/."""

from __future__ import annotations

import io
import re
import time

import httpx
import pytest

from tests.builders import child, registration
from tests.e2e.conftest import ROOT
from tests.e2e.test_browser import browser, logged_in, reload_until  # noqa: F401 - the browser fixture

ARTIFACTS = ROOT / "test-artifacts" / "family"
SIGN_IN_LINK = re.compile(r"https?://[0-9.:a-z]+/sign-in/[0-9a-f-]{36}/[a-z2-7]{26}")


def register(system, language: str, child_name: str) -> str:
    body = registration(with_spouse=False, children=[child(child_name, "2018-03-05")], preferred_language=language,
                        full_name="Amira Haddad" if language == "ar" else "Li Wei")
    created = httpx.post(f"{system['registration']}/registrations", json=body, headers=system.headers("borgerservice"),
                         timeout=10)
    assert created.status_code == 201, created.text
    return created.json()["case_id"]


def link_from_the_pdf(system, case_id: str) -> str:
    """The sign-in link as printed in the letter's PDF (its text, as a family would type or copy it)."""
    from pypdf import PdfReader

    staff = system.headers("borgerservice")
    deadline = time.monotonic() + 30
    while not (letters := httpx.get(f"{system['welcome_pack']}/letters", params={"case_id": case_id},
                                    headers=staff).json()):
        assert time.monotonic() < deadline, "no letter within 30 s"
        time.sleep(0.3)
    pdf = httpx.get(f"{system['welcome_pack']}/letters/{letters[0]['letter_id']}.pdf", headers=staff, timeout=30)
    text = "".join("".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages).split())
    found = SIGN_IN_LINK.search(text)
    assert found, f"no sign-in link in the PDF text: {text[:400]}"
    (ARTIFACTS / f"letter-{case_id[:8]}.pdf").write_bytes(pdf.content)
    return found.group(0)


@pytest.mark.parametrize(("language", "child_name", "sign_in", "plan", "mark_done", "school_for"), [
    ("ar", "Lina Haddad", "تسجيل الدخول", "خطتك", "تحديد كمنجز", "المدرسة لـ Lina"),
    ("zh", "Mei Wei", "登录", "您的计划", "标记为已完成", "Mei 的学校"),
])
def test_a_family_signs_in_from_its_letter_and_follows_its_plan(browser, system, language, child_name,  # noqa: F811
                                                                sign_in, plan, mark_done, school_for):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    case_id = register(system, language, child_name)
    link = link_from_the_pdf(system, case_id)
    context = browser.new_context(locale=f"{language}", viewport={"width": 1000, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(link)
    page.get_by_role("button", name=sign_in).click()
    page.wait_for_url(re.compile(r".*/family$"))
    assert page.locator("html").get_attribute("dir") == ("rtl" if language == "ar" else "ltr")
    assert page.get_by_role("heading", name=plan).is_visible()
    assert page.get_by_role("heading", name=school_for).is_visible()
    page.screenshot(path=ARTIFACTS / f"{language}-01-plan.png", full_page=True)

    first = page.locator("article.step").first
    step_id = first.get_attribute("id")
    first.get_by_role("button", name=mark_done).click()
    page.wait_for_load_state()
    assert "done" in page.locator(f"article.step[id='{step_id}']").get_attribute("class")

    # school_intake's event about the child's task shows as the child's place, in the family's language.
    reload_until(page, lambda: page.locator("tr.intake").count() == 1)
    assert re.search(r"skolen|Skole", page.locator("tr.intake").inner_text())  # a school's name, kept as it is
    page.screenshot(path=ARTIFACTS / f"{language}-02-ticked-and-intake.png", full_page=True)

    # The same link again (from another device) is refused with one plain page.
    other = browser.new_context(locale=language).new_page()
    other.goto(link)
    other.get_by_role("button", name=sign_in).click()
    assert other.locator("h1").count() == 1 and "/family" not in other.url
    other.context.close()
    context.close()

    if language == "ar":
        desk = logged_in(browser, system["welcome_pack"], "borgerservice", "Bo Borgerservice")
        desk.goto(f"{system['welcome_pack']}/cases/{case_id}/plan")
        assert desk.get_by_text("Klaret: 1").count() + desk.locator("p.progress strong").count() > 0
        assert desk.locator("p.progress strong").first.inner_text() == "1"
        assert "Linket er brugt" in desk.content()
        desk.screenshot(path=ARTIFACTS / "da-03-staff-plan.png", full_page=True)
        desk.context.close()


def test_an_arabic_family_turns_job_help_off_and_staff_see_it_in_danish(browser, system):  # noqa: F811
    """The family's choice reaches the adviser's board (the leads withdrawn, and why), and the plan's progress
    reaches Borgerservice's case page; each page looked at as a picture."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    body = registration(children=[child("Lina Haddad", "2018-03-05")], preferred_language="ar",
                        full_name="Amira Haddad")
    created = httpx.post(f"{system['registration']}/registrations", json=body,
                         headers=system.headers("borgerservice"), timeout=10)
    case_id = created.json()["case_id"]
    link = link_from_the_pdf(system, case_id)
    context = browser.new_context(locale="ar", viewport={"width": 1000, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(link)
    page.get_by_role("button", name="تسجيل الدخول").click()
    page.wait_for_url(re.compile(r".*/family$"))
    assert page.locator(".job-help-state").inner_text() == "المساعدة في العثور على عمل مفعّلة."
    page.get_by_role("button", name="إيقاف المساعدة في العثور على عمل").click()
    page.wait_for_load_state()
    assert page.locator(".job-help-state").inner_text() == "المساعدة في العثور على عمل متوقفة."
    assert page.locator("article#jobcenter_contact").count() == 0  # the plan's Jobcenter steps went with it
    page.locator("#job-help").scroll_into_view_if_needed()
    page.screenshot(path=ARTIFACTS / "ar-07-job-help-off.png")
    context.close()

    adviser = logged_in(browser, system["job_match"], "jobcenter_adviser", "Rådgiver Rasmus")
    adviser.goto(f"{system['job_match']}/?show=all")
    spouse = adviser.locator(f"section#case-{case_id}")
    reload_until(adviser, lambda: spouse.locator(".job-help-off").count() == 1
                 and spouse.locator("[data-status='withdrawn']").count() == 10)
    assert spouse.locator("[data-status='withdrawn']").first.inner_text() == "trukket tilbage af familien"
    spouse.scroll_into_view_if_needed()
    adviser.screenshot(path=ARTIFACTS / "da-08-board-job-help-off.png")
    adviser.context.close()

    desk = logged_in(browser, system["registration"], "borgerservice", "Bo Borgerservice")
    desk.goto(f"{system['registration']}/cases/{case_id}")
    reload_until(desk, lambda: desk.locator("p.plan-progress").count() == 1)
    assert desk.locator("[data-count='done']").inner_text() == "0"
    assert int(desk.locator("[data-count='overdue']").inner_text()) >= 2  # arrived a month ago, nothing done
    desk.screenshot(path=ARTIFACTS / "da-09-case-plan-progress.png", full_page=True)
    desk.context.close()


def free_places(system, band=(0, 2)) -> int:
    schools = httpx.get(f"{system['school_intake']}/schools", headers=system.headers("borgerservice")).json()
    return sum(rc["free"] for s in schools for rc in s["reception_classes"] if tuple(rc["grades"]) == band)


def fill_the_reception_classes(system) -> None:
    """Register children of grade 0-2 until no reception-class place for the band is free."""
    deadline = time.monotonic() + 60
    while (free := free_places(system)) > 0:
        assert time.monotonic() < deadline, f"{free} places still free after 60 s"
        for i in range(free):
            body = registration(with_spouse=False, children=[child(f"Filler {i}", "2019-05-01")],
                                preferred_language="en")
            assert httpx.post(f"{system['registration']}/registrations", json=body,
                              headers=system.headers("borgerservice"), timeout=10).status_code == 201
        # Until school_intake has taken every filler of this round: a round started when only some of them were
        # handled would register more than the free places, and the extra fillers would wait in line ahead of the
        # test's child (which then is not number 1).
        while free_places(system) > 0 and time.monotonic() < deadline:
            time.sleep(0.3)


@pytest.mark.parametrize(("language", "in_line", "offered", "accept", "accepted"), [
    ("ar", "رقم 1 في قائمة الانتظار للصفوف 0–2", "عُرض مكان في", "قبول المكان", "لقد قبلت المكان."),
    ("zh", "0–2 年级候补第 1 位", "提供了一个名额", "接受名额", "您已接受名额。"),
])
def test_a_waitlisted_child_is_offered_a_freed_place_and_the_family_accepts_it(browser, system, language,  # noqa: F811
                                                                                in_line, offered, accept, accepted):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    fill_the_reception_classes(system)
    case_id = register(system, language, "Sara Haddad" if language == "ar" else "Xiao Wei")
    link = link_from_the_pdf(system, case_id)
    context = browser.new_context(locale=language, viewport={"width": 1000, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(link)
    page.locator("form button.primary").click()
    page.wait_for_url(re.compile(r".*/family$"))
    reload_until(page, lambda: in_line in page.locator("tr.intake").inner_text())
    page.screenshot(path=ARTIFACTS / f"{language}-03-waitlisted.png", full_page=True)

    # A school declines a filler's task: the freed place is offered to this child, the first in line.
    school_id = "braendgaard"
    staff = system.headers("school_staff", school_id)
    tasks = httpx.get(f"{system['school_intake']}/intake-tasks", headers=staff).json()
    filler = next(t for t in tasks if t["status"] == "new" and t["kind"] == "reception_class")
    declined = httpx.post(f"{system['school_intake']}/intake-tasks/{filler['task_id']}/transitions",
                          json={"to": "declined", "reason": "the family moved away"}, headers=staff)
    assert declined.status_code == 200, declined.text
    reload_until(page, lambda: offered in page.locator("tr.intake").inner_text())
    page.screenshot(path=ARTIFACTS / f"{language}-04-offered.png", full_page=True)
    page.get_by_role("button", name=accept).click()
    page.wait_for_load_state()
    assert accepted in page.locator("tr.intake").inner_text()

    # school_intake reads the answer from Kafka: the task goes to the school, which sees the family's answer.
    school = logged_in(browser, system["school_intake"], "school_staff", "Lærer Lise", school_id)
    reload_until(school, lambda: school.locator("span.family-answer[data-answer=accepted]").count() >= 1)
    assert "Familien har sagt ja til pladsen" in school.content()
    school.screenshot(path=ARTIFACTS / f"{language}-05-school-sees-the-answer.png", full_page=True)
    reload_until(page, lambda: offered not in page.locator("tr.intake").inner_text())
    page.screenshot(path=ARTIFACTS / f"{language}-06-accepted.png", full_page=True)
    school.context.close()
    context.close()
