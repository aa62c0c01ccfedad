"""What staff read when something could not be done, in Danish (English on the toggle).

The API keeps its English `detail` (clients and logs read it); a staff page shows the Danish text for it. The
texts are keyed by the English detail; a detail without one (a message made at run time) falls back on a text
for its status code, so a Danish page never shows English. tests/shared/test_error_texts.py finds every detail
the code can raise and fails when one has no Danish text here.
"""

from __future__ import annotations

from collections.abc import Mapping

# English detail -> Danish.
ERROR_TEXTS: dict[str, str] = {
    "Your role does not give access to this.": "Din rolle giver ikke adgang til dette.",
    "A school staff token must name the school (school_id claim).":
        "Et login for skolepersonale skal angive skolen (school_id).",
    "The form is out of date or did not come from this site (CSRF check); reload the page.":
        "Formularen er forældet eller kom ikke fra denne side (CSRF-tjek). Genindlæs siden.",
    "Development login is switched off.": "Udviklerlogin er slået fra.",
    "Families sign in with the link in their letter.": "Familier logger ind med linket i deres brev.",
    "School staff must give their school id.": "Skolepersonale skal angive deres skoles id.",
    "No registration with this case id.": "Der er ingen registrering med dette sagsnummer.",
    "This case's personal data was erased; see /erasure.":
        "Sagens personoplysninger er slettet; se sletningen på sagen.",
    "This case was not erased.": "Sagen er ikke slettet.",
    "This Idempotency-Key was already used for a different registration; use a new key.":
        "Denne registreringsnøgle er brugt til en anden registrering; brug en ny.",
    "This Idempotency-Key names a case whose personal data was erased; register anew with a new key.":
        "Denne registreringsnøgle hører til en sag, hvis personoplysninger er slettet; registrér igen med en ny.",
    "No letter with this id.": "Der er intet brev med dette id.",
    "No plan for this case.": "Der er ingen plan for denne sag.",
    "No such step in this case's plan.": "Sagens plan har ikke dette trin.",
    "The form is out of date; reload the page.": "Formularen er forældet; genindlæs siden.",
    "No intake task with this id at your school.": "Din skole har ingen indskrivningsopgave med dette id.",
    "You see your own school's queue only.": "Du kan kun se din egen skoles kø.",
    "Unknown action.": "Ukendt handling.",
    "No lead with this id.": "Der er intet jobforslag med dette id.",
    "the file must be UTF-8 text": "Filen skal være UTF-8-tekst.",
    "send application/json or text/csv": "Send application/json eller text/csv.",
}

# Status code -> (Danish, English), for details made at run time.
STATUS_TEXTS: dict[int, tuple[str, str]] = {
    400: ("Forespørgslen kunne ikke bruges.", "The request could not be used."),
    401: ("Log ind for at fortsætte.", "Log in to continue."),
    403: ("Du har ikke adgang til dette.", "You do not have access to this."),
    404: ("Det findes ikke, eller du har ikke adgang til det.", "It does not exist, or you do not have access to it."),
    409: ("Det blev ændret af en anden, eller ændringen passer ikke til det, som det står nu. Genindlæs siden og "
          "prøv igen.", "It was changed by someone else, or the change does not fit where it stands now. Reload "
                       "the page and try again."),
    410: ("Det er slettet.", "It was erased."),
    413: ("Filen er for stor.", "The file is too large."),
    415: ("Den slags indhold kan ikke bruges her.", "That kind of content cannot be used here."),
    422: ("Oplysningerne kunne ikke bruges. Ret dem og prøv igen.", "The details could not be used. Correct them and "
                                                                    "try again."),
}
FALLBACK = ("Det kunne ikke lade sig gøre.", "That could not be done.")


def staff_error_text(detail: object, status_code: int, language: str) -> str:
    """The text for a staff page in `language` ("da" or "en")."""
    message = detail.get("message") if isinstance(detail, Mapping) else detail
    danish_status, english_status = STATUS_TEXTS.get(status_code, FALLBACK)
    if language == "da":
        return ERROR_TEXTS.get(message, danish_status) if isinstance(message, str) else danish_status
    return message if isinstance(message, str) and message else english_status
