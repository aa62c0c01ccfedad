"""Generates sample_listings.json: SAMPLE job listings in the shape of a Jobnet export (not real openings).

    python services/job_match/data/make_sample_listings.py [COUNT]

Deterministic (fixed seed), so the committed file can be regenerated exactly.
"""

import json
import random
import sys
from datetime import date, timedelta
from pathlib import Path

# (title_da, title_en, occupation, required skills, wanted skills, languages [(lang, level)], education, hours)
ROLES = [
    ("Svejser", "Welder", "welder", ["welding"], ["mig/mag welding", "blueprint reading"], [("en", "B1")], "vocational", 37),
    ("MIG/MAG-svejser", "MIG/MAG welder", "welder", ["mig/mag welding"], ["welding", "metalwork"], [("de", "B1")], "vocational", 37),
    ("TIG-svejser til rustfrit stål", "TIG welder, stainless steel", "welder", ["tig welding"], ["welding", "quality assurance"], [("en", "B2")], "vocational", 37),
    ("Klejnsmed", "Metal worker", "metalworker", ["metalwork"], ["welding", "blueprint reading"], [("da", "B1")], "vocational", 37),
    ("Industrismed", "Industrial metal worker", "metalworker", ["metalwork", "welding"], ["cnc machining"], [("en", "B1")], "vocational", 37),
    ("CNC-operatør", "CNC operator", "machinist", ["cnc machining"], ["blueprint reading", "quality assurance"], [("en", "B1")], "vocational", 37),
    ("Lagermedarbejder", "Warehouse worker", "warehouse worker", ["warehouse"], ["forklift"], [("en", "A2")], "primary", 37),
    ("Truckfører", "Forklift driver", "warehouse worker", ["forklift"], ["warehouse", "logistics"], [("da", "A2")], "primary", 37),
    ("Lastbilchauffør", "Truck driver (CE)", "truck driver", ["truck driving"], ["logistics"], [("da", "B1")], "vocational", 40),
    ("Softwareudvikler", "Software developer", "software developer", ["software development"], ["python", "javascript"], [("en", "C1")], "bachelor", 37),
    ("Python-udvikler", "Python developer", "software developer", ["python"], ["software development", "data analysis"], [("en", "B2")], "bachelor", 37),
    ("Java-udvikler", "Java developer", "software developer", ["java"], ["software development"], [("en", "B2"), ("da", "B2")], "bachelor", 37),
    ("Dataanalytiker", "Data analyst", "data analyst", ["data analysis"], ["python"], [("en", "C1")], "master", 37),
    ("Sygeplejerske", "Registered nurse", "nurse", ["nursing"], ["elder care"], [("da", "B2")], "bachelor", 32),
    ("Social- og sundhedshjælper", "Care worker", "care worker", ["elder care"], ["nursing"], [("da", "B1")], "vocational", 30),
    ("Pædagogmedhjælper", "Childcare assistant", "childcare worker", ["childcare"], [], [("da", "B1")], "upper_secondary", 30),
    ("Engelsklærer", "English teacher", "teacher", ["teaching", "english teaching"], [], [("en", "C2"), ("da", "B2")], "bachelor", 37),
    ("Lærer, international afdeling", "Teacher, international department", "teacher", ["teaching"], ["english teaching"], [("en", "C1")], "bachelor", 37),
    ("Kok", "Chef", "cook", ["cooking"], [], [("en", "A2")], "vocational", 37),
    ("Køkkenmedhjælper", "Kitchen assistant", "cook", ["cooking"], ["cleaning"], [], "primary", 25),
    ("Rengøringsassistent", "Cleaner", "cleaner", ["cleaning"], [], [], "primary", 30),
    ("Bogholder", "Bookkeeper", "accountant", ["accounting"], [], [("da", "C1")], "short_cycle", 37),
    ("Salgskonsulent, eksport DACH", "Sales consultant, DACH export", "salesperson", ["sales"], ["customer service"], [("de", "C1"), ("en", "B2")], "short_cycle", 37),
    ("Kundeservicemedarbejder, tysk", "Customer service, German", "customer service agent", ["customer service"], ["sales"], [("de", "C1")], "upper_secondary", 37),
    ("Elektriker", "Electrician", "electrician", ["electrician"], [], [("da", "B1")], "vocational", 37),
    ("Automekaniker", "Car mechanic", "mechanic", ["mechanic"], ["hydraulics"], [("da", "A2")], "vocational", 37),
    ("Tømrer", "Carpenter", "carpenter", ["carpentry"], [], [("da", "A2")], "vocational", 37),
    ("Projektleder", "Project manager", "project manager", ["project management"], ["mechanical engineering"], [("en", "C1")], "master", 37),
    ("Maskiningeniør", "Mechanical engineer", "mechanical engineer", ["mechanical engineering"], ["project management", "quality assurance"], [("en", "C1")], "master", 37),
    ("Kvalitetstekniker", "Quality technician", "quality technician", ["quality assurance"], ["metalwork", "blueprint reading"], [("en", "B2")], "short_cycle", 37),
    ("Syerske", "Seamstress", "textile worker", ["textile production"], [], [], "primary", 37),
    ("Modedesigner", "Fashion designer", "designer", ["fashion design"], ["textile production", "graphic design"], [("en", "C1")], "bachelor", 37),
    ("Marketingkoordinator", "Marketing coordinator", "marketing coordinator", ["marketing"], ["graphic design"], [("en", "C1"), ("da", "C1")], "bachelor", 37),
    ("Logistikkoordinator", "Logistics coordinator", "logistics coordinator", ["logistics"], ["warehouse"], [("en", "B2")], "short_cycle", 37),
    ("Vindmølletekniker", "Wind turbine technician", "service technician", ["wind turbine service"], ["hydraulics", "electrician"], [("en", "B2")], "vocational", 37),
    ("Landbrugsmedhjælper", "Farm worker", "farm worker", ["agriculture"], [], [("en", "A2")], "primary", 37),
    ("Slagter", "Butcher", "butcher", ["butchery"], [], [("da", "A2")], "vocational", 37),
    ("HR-konsulent", "HR consultant", "hr consultant", ["hr"], [], [("da", "C1")], "bachelor", 37),
    ("Grafisk designer", "Graphic designer", "graphic designer", ["graphic design"], ["marketing"], [("en", "B2")], "bachelor", 37),
]
EMPLOYERS = [
    "Herning Stålindustri A/S", "Midtjysk Metal ApS", "Birk Maskinfabrik A/S", "Hammerum Tekstil A/S", "Sunds Logistik ApS",
    "Vestjysk Vind Service A/S", "Regionshospitalet Gødstrup", "Herning Kommune", "Brande Industri A/S", "Ikast Data ApS",
    "MCH Event Service A/S", "Fredhøj Køkken & Kantine ApS", "Tjørring Transport A/S", "Gullestrup Byg ApS",
    "Lind Landbrug I/S", "Danish Crown-type Fødevarer A/S", "Aulum Automekanik ApS", "Kibæk Rengøring ApS",
]
PLACES = [
    ("herning", "Herning"), ("herning", "Sunds"), ("herning", "Hammerum"), ("herning", "Gjellerup"), ("herning", "Kibæk"),
    ("ikast-brande", "Ikast"), ("ikast-brande", "Brande"), ("holstebro", "Holstebro"), ("silkeborg", "Silkeborg"),
]


TODAY = date(2026, 11, 27)


def make(count: int, seed: int = 7, today: date = TODAY) -> list[dict]:
    rng = random.Random(seed)
    listings = []
    for n in range(count):
        da, en, occupation, required, wanted, languages, education, hours = ROLES[n % len(ROLES)]
        municipality, town = rng.choice(PLACES)
        published = today - timedelta(days=rng.randint(0, 40))
        # About one in eight sample listings has already expired: they must never produce leads.
        expires = today - timedelta(days=rng.randint(1, 20)) if n % 8 == 7 else today + timedelta(days=rng.randint(10, 90))
        listings.append({
            "id": f"SAMPLE-{n + 1:05d}",
            "title": da if n % 2 == 0 else en,
            "employer": rng.choice(EMPLOYERS),
            "municipality": municipality,
            "workplace_address": f"{town}",
            "occupation": occupation,
            "required_skills": required,
            "wanted_skills": wanted,
            "required_languages": [{"language": lang, "level": level} for lang, level in languages],
            "education_level": education,
            "hours_per_week": hours,
            "published": published.isoformat(),
            "expires": expires.isoformat(),
        })
    return listings


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 520
    out = Path(__file__).with_name("sample_listings.json")
    out.write_text(json.dumps({"_comment": "SAMPLE DATA generated by make_sample_listings.py; not real job openings. "
                               "Loaded with dates shifted by (today - dated_on) so the sample stays current.",
                               "dated_on": TODAY.isoformat(), "listings": make(count)}, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {count} listings to {out}")
