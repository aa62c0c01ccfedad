"""The catalog messages of the family's plan and pages, by the domain's codes (translated in locales/<lang>).

N_ only marks a message for extraction; templates and pages translate it with the reader's catalog.
"""

from __future__ import annotations

from services.welcome_pack.domain import Actor, Document, PlanStage, StepKind, StepStatus


def N_(message: str) -> str:  # the conventional gettext marker name
    return message


STEP_TITLES: dict[StepKind, str] = {
    StepKind.EU_REGISTRATION_CERTIFICATE: N_("Get your EU registration certificate"),
    StepKind.RESIDENCE_PERMIT: N_("Have your residence permit ready"),
    StepKind.DOCUMENTS: N_("Gather the documents to bring"),
    StepKind.CPR_REGISTRATION: N_("Register your address and get a CPR number"),
    StepKind.TAX_CARD: N_("Get your tax card"),
    StepKind.MITID: N_("Get MitID"),
    StepKind.HEALTH_CARD_AND_GP: N_("Choose a doctor and receive your health card"),
    StepKind.DIGITAL_POST: N_("Start using Digital Post"),
    StepKind.DANISH_EDUCATION: N_("Sign up for free Danish lessons"),
    StepKind.INTEGRATION_PROGRAMME: N_("Start your integration programme"),
    StepKind.DAYCARE: N_("Daycare for %(name)s"),
    StepKind.SCHOOL: N_("School for %(name)s"),
    StepKind.LANGUAGE_ASSESSMENT: N_("Language assessment for %(name)s"),
    StepKind.YOUTH_GUIDANCE: N_("Youth guidance for %(name)s"),
    StepKind.JOBCENTER_CONTACT: N_("Meet the Jobcenter about work for your spouse"),
    StepKind.RECOGNITION: N_("Have your spouse's qualifications recognised"),
    StepKind.FIRST_JOB: N_("A first job in Denmark for your spouse"),
    StepKind.INTERNATIONAL_NETWORK: N_("Meet other internationals"),
}

STEP_HELP: dict[StepKind, str] = {
    StepKind.EU_REGISTRATION_CERTIFICATE: N_(
        "EU/EEA citizens staying more than three months apply to SIRI for a registration certificate. You need it "
        "to get a CPR number, and it may be at most six months old when you register."),
    StepKind.RESIDENCE_PERMIT: N_("Your residence permit comes before your CPR number. Bring it when you register."),
    StepKind.DOCUMENTS: N_("Bring the originals. Certificates must be in Danish, English or German."),
    StepKind.CPR_REGISTRATION: N_(
        "Register at Borgerservice within 5 days of moving in. Bring the documents listed."),
    StepKind.TAX_CARD: N_(
        "Register with the Danish Tax Agency (Skattestyrelsen) so that your employer receives your tax card."),
    StepKind.MITID: N_(
        "MitID is your digital ID. Use the MitID app with a chip passport, or come to Borgerservice with your ID."),
    StepKind.HEALTH_CARD_AND_GP: N_(
        "You choose a doctor when you register. The yellow health card arrives by post about 14 days later."),
    StepKind.DIGITAL_POST: N_(
        "Letters from public authorities arrive in Digital Post; it is mandatory from age 15. Borgerservice can "
        "tell you about exemptions."),
    StepKind.DANISH_EDUCATION: N_("Adults learn Danish for free. Sign up with your CPR number."),
    StepKind.INTEGRATION_PROGRAMME: N_(
        "The municipality contacts you to plan your integration programme: Danish lessons, work and education."),
    StepKind.DAYCARE: N_(
        "Children have a guaranteed daycare place from 26 weeks until they start school. Apply through Digital "
        "Pladsanvisning; the place offered is shown here."),
    StepKind.SCHOOL: N_(
        "The school contacts you for a start meeting. Bring your child's birth certificate. The place is shown here."),
    StepKind.LANGUAGE_ASSESSMENT: N_(
        "Around age 3, children's Danish is assessed. You take part; the daycare or the municipality contacts you."),
    StepKind.YOUTH_GUIDANCE: N_(
        "The municipal youth unit contacts %(name)s within 5 working days about education or work."),
    StepKind.JOBCENTER_CONTACT: N_(
        "The Jobcenter helps accompanying spouses find work on the same terms as Danes. An adviser contacts you."),
    StepKind.RECOGNITION: N_(
        "This occupation is regulated in Denmark: %(authority)s decides whether a foreign qualification gives the "
        "right to work in it. Apply early: it can take up to 3 months."),
    StepKind.FIRST_JOB: N_("Apply for the jobs your Jobcenter adviser suggests."),
    StepKind.INTERNATIONAL_NETWORK: N_("The local international network brings newcomers and locals together."),
}

DOCUMENTS: dict[Document, str] = {
    Document.PASSPORT: N_("Passport or national ID card"),
    Document.LEASE: N_("Your lease or other proof of address"),
    Document.HOME_PERSONAL_NUMBER: N_("Your personal number from your home country"),
    Document.EU_REGISTRATION_CERTIFICATE: N_("EU registration certificate"),
    Document.RESIDENCE_PERMIT: N_("Residence permit"),
    Document.MARRIAGE_CERTIFICATE: N_("Marriage certificate"),
    Document.BIRTH_CERTIFICATES: N_("Your children's birth certificates"),
    Document.LEGALISED_CERTIFICATES: N_("Certificates from outside the EU must be apostilled or legalised"),
    Document.CPR_NUMBER: N_("Your CPR number"),
    Document.QUALIFICATION_PAPERS: N_("Diplomas and proof of work experience"),
}

STAGES: dict[PlanStage, str] = {
    PlanStage.ON_ARRIVAL: N_("Before or on arrival"),
    PlanStage.FIRST_WEEK: N_("First week"),
    PlanStage.FIRST_MONTH: N_("First month"),
    PlanStage.MONTHS_2_6: N_("Months 2–6"),
    PlanStage.MONTHS_7_12: N_("Months 7–12"),
}

ACTORS: dict[Actor, str] = {
    Actor.FAMILY: N_("You"),
    Actor.BORGERSERVICE: N_("Borgerservice"),
    Actor.SCHOOL: N_("The school"),
    Actor.DAYCARE: N_("The daycare unit"),
    Actor.YOUTH_UNIT: N_("The youth unit"),
    Actor.JOBCENTER: N_("The Jobcenter"),
}

STATUSES: dict[StepStatus, str] = {
    StepStatus.TO_DO: N_("To do"),
    StepStatus.DONE: N_("Done"),
    StepStatus.NOT_RELEVANT: N_("Not relevant"),
}

# What a child's intake is and how far it has come, in words (school_intake's codes).
INTAKE_KINDS: dict[str, str] = {
    "reception_class": N_("Reception class (Danish as a second language)"),
    "district_school": N_("District school"),
    "daycare": N_("Daycare"),
    "youth_guidance": N_("Youth guidance"),
}
INTAKE_STATUSES: dict[str, str] = {
    "new": N_("Waiting for the school or unit to respond"),
    "waitlisted": N_("On the waiting list"),
    "offered": N_("Offered a place"),
    "acknowledged": N_("Received by the school or unit"),
    "meeting_scheduled": N_("A meeting is agreed"),
    "placed": N_("Has a place"),
    "declined": N_("Not offered a place here"),
    "redirected": N_("Sent on to another school or unit"),
}

# The offer of a freed reception-class place, and the waiting line, as the family reads them.
WAITLIST_POSITION = N_("Number %(position)s in line for grades %(low)s–%(high)s")
OFFER = N_("A place is offered at %(school)s. Answer by %(date)s.")
ANSWERS = {"accepted": N_("You accepted the place."), "declined": N_("You declined the place.")}
