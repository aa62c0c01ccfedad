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
