"""The staff pages in a real browser (Playwright driving Debian's Chromium) against the four running services.

Borgerservice registers a family through the form; the school's staff member sees the child's task and
acknowledges it; the Jobcenter adviser sees the spouse's leads and marks one contacted; the case page's timeline
then shows all of it. Finally the family is erased and every service confirms. Screenshots go to
test-artifacts/browser/.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts" / "browser"


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make install` (deploy/system-packages.sh) installs Debian's chromium")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


def logged_in(browser, url: str, role: str, name: str, school_id: str = ""):
    """A fresh browser profile, logged in through the development login page of the service at `url`."""
    context = browser.new_context(locale="da-DK", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(f"{url}/login")
    page.get_by_label(role, exact=True).check()
    page.get_by_label("Navn").fill(name)
    if school_id:
        page.get_by_label("Skole-id (kun skolepersonale)").fill(school_id)
    page.get_by_role("button", name="Log ind").click()
    page.wait_for_load_state()
    return page


def reload_until(page, condition, timeout_s: float = 30):
    for _ in range(int(timeout_s * 2)):
        if condition():
            return
        page.wait_for_timeout(500)
        page.reload()
    assert condition(), f"not shown on {page.url} after {timeout_s} s"


def test_a_family_registered_in_the_browser_is_followed_by_school_and_jobcenter(browser, system):
    # --- Borgerservice registers the family through the form.
    desk = logged_in(browser, system["registration"], "borgerservice", "Bo Borgerservice")
    assert desk.url.startswith(f"{system['registration']}/cases")
    desk.get_by_role("link", name="Registrér en ny ankomst").click()
    desk.get_by_label("Fulde navn *").first.fill("Amira Haddad")
    desk.locator("#newcomer-date_of_birth").fill("1987-05-14")
    desk.get_by_label("CPR-nummer (hvis tildelt)").fill("140587-1234")
    desk.get_by_label("Statsborgerskab (landekode) *").fill("SY")
    desk.get_by_label("Foretrukket sprog (velkomstbrev) *").select_option("ar")
    desk.locator("#newcomer-languages").fill("ar native, en B2")
    desk.get_by_label("Ankomstdato *").fill("2026-11-02")
    desk.get_by_label("Formål med opholdet *").select_option("work")
    desk.get_by_label("Vej *").fill("Bredgade")
    desk.get_by_label("Husnummer *").fill("12")
    desk.get_by_label("Postnummer *").fill("7400")
    desk.get_by_label("Husstanden har en ægtefælle/partner").check()
    desk.locator("#household-spouse-full_name").fill("Jonas Weber")
    desk.locator("#household-spouse-date_of_birth").fill("1985-02-01")
    desk.locator("#household-spouse-highest_education").select_option("vocational")
    desk.locator("#household-spouse-occupation").fill("svejser")
    desk.locator("#household-spouse-skills").fill("TIG, MIG/MAG")
    desk.locator("#household-spouse-languages").fill("de C1, en B2")
    for i, (name, born) in enumerate([("Lina Haddad", "2019-03-05"), ("Omar Haddad", "2024-06-20")]):
        desk.get_by_role("button", name="Tilføj barn").click()
        desk.locator(f"#household-children-{i}-full_name").fill(name)
        desk.locator(f"#household-children-{i}-date_of_birth").fill(born)
        desk.locator(f"#household-children-{i}-languages").fill("ar")
    desk.screenshot(path=ARTIFACTS / "01-registration-form.png", full_page=True)
    desk.get_by_role("button", name="Registrér", exact=True).click()
    desk.wait_for_url(re.compile(r".*/cases/[0-9a-f-]{36}$"))
    case_url = desk.url
    assert desk.get_by_role("heading", name="Amira Haddad").is_visible()
    assert "140587-1234" in desk.content()  # Borgerservice sees the CPR number

    tasks = desk.locator("li[data-task]")
    reload_until(desk, lambda: tasks.count() == 2 and desk.locator("#job-leads").count() == 1)
    units = {tasks.nth(i).get_attribute("data-kind"): tasks.nth(i).get_attribute("data-unit") for i in range(2)}
    assert set(units) == {"reception_class", "daycare"}
    desk.screenshot(path=ARTIFACTS / "02-case-page.png", full_page=True)

    # --- The letter, previewed in Arabic.
    desk.get_by_role("link", name="se og hent brevet").click()
    assert desk.get_by_role("link", name="Hent som PDF (العربية)").is_visible()
    letter = desk.frame_locator("iframe.letter")
    assert letter.locator("html[dir=rtl]").count() == 1
    desk.screenshot(path=ARTIFACTS / "03-letter-arabic.png", full_page=True)

    # --- The reception-class school's staff member acknowledges Lina's task.
    school = logged_in(browser, system["school_intake"], "school_staff", "Lærer Lise", units["reception_class"])
    row = school.locator("tr[data-child='Lina Haddad']")
    assert row.count() == 1
    assert school.locator("tr[data-child='Omar Haddad']").count() == 0  # the daycare task is another unit's
    school.screenshot(path=ARTIFACTS / "04-school-queue.png", full_page=True)
    row.get_by_role("button", name="Kvittér").click()
    school.wait_for_load_state()
    assert school.locator("tr[data-child='Lina Haddad'] .status").get_attribute("data-status") == "acknowledged"
    assert school.locator("tr[data-child='Lina Haddad'] .status").inner_text() == "kvitteret"

    # --- The Jobcenter adviser sees the spouse's explained leads and marks the best one contacted.
    adviser = logged_in(browser, system["job_match"], "jobcenter_adviser", "Rådgiver Rasmus")
    spouse = adviser.locator("section.spouse", has_text="Jonas Weber")
    assert spouse.count() == 1
    assert spouse.locator("tr[data-lead]").count() == 10
    assert "svejsning" in spouse.locator("tr[data-lead]").first.inner_text()
    assert "Lina" not in adviser.content()  # no children's data on the lead board
    adviser.screenshot(path=ARTIFACTS / "05-lead-board.png", full_page=True)
    spouse.locator("tr[data-lead]").first.get_by_role("button", name="Kontaktet").click()
    adviser.wait_for_load_state()

    # --- Back at Borgerservice: the timeline shows the school's and the Jobcenter's work.
    desk.goto(case_url)
    reload_until(desk,
                 lambda: desk.locator(f"li[data-unit='{units['reception_class']}'] [data-status=acknowledged]").count()
                 and "kontaktet 1" in desk.locator("#job-leads").inner_text())
    timeline = desk.locator("ol.timeline").inner_text()
    assert "Lærer Lise" in timeline and "Velkomstbrev dannet" in timeline
    desk.get_by_role("link", name="English").click()
    assert desk.get_by_role("heading", name="Timeline").is_visible()
    desk.screenshot(path=ARTIFACTS / "06-case-timeline.png", full_page=True)

    # --- Each role is kept to its own pages.
    assert school.goto(case_url).status == 403
    assert adviser.goto(f"{system['school_intake']}/").status == 403

    # --- The family asks to be erased: Borgerservice erases, the services confirm on the case page.
    desk.get_by_role("link", name="Dansk").click()
    desk.get_by_text("Slet personoplysninger (GDPR)").click()
    desk.get_by_label("Begrundelse (fx anmodning og dato)").fill("Anmodning fra familien 27.11.2026")
    desk.get_by_role("button", name="Slet personoplysninger").click()
    confirmed = desk.locator("#erasure-confirmations [data-confirmed=yes]")
    reload_until(desk, lambda: confirmed.count() == 4)
    assert "Amira" not in desk.content()
    desk.screenshot(path=ARTIFACTS / "07-erased-case.png", full_page=True)
    school.goto(f"{system['school_intake']}/")
    assert school.locator("tr[data-child='Lina Haddad']").count() == 0
