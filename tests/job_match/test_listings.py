"""Parsing Jobnet-style exports: bad rows are reported with line and reason, good rows kept."""

import json

from services.job_match.listings import parse_csv, parse_json

HEADER = ("id,title,employer,municipality,workplace_address,occupation,required_skills,wanted_skills,"
          "required_languages,education_level,hours_per_week,published,expires\n")


def test_csv_rows_are_parsed_with_lists_and_languages():
    text = HEADER + ("J1,Svejser,Stål A/S,herning,Herning,welder,svejser;TIG,cnc,en:B1;de:A2,vocational,37,"
                     "2026-11-01,2026-12-31\n")
    [listing], errors = parse_csv(text)
    assert errors == []
    assert listing.required_skills == ("svejser", "TIG")
    assert [(lang.language, lang.level.value) for lang in listing.required_languages] == [("en", "B1"), ("de", "A2")]
    assert listing.index_terms >= {"welding", "tig welding", "cnc machining"}


def test_csv_bad_rows_are_reported_by_line_and_good_rows_kept():
    text = (HEADER
            + "J1,Svejser,Stål A/S,herning,,,welding,,,,,2026-11-01,2026-12-31\n"
            + "J2,Kok,,herning,,,cooking,,,,,2026-11-01,2026-12-31\n"  # no employer
            + "J3,Lager,Lager ApS,herning,,,warehouse,,en:Z9,,,2026-11-01,2026-12-31\n"  # bad CEFR level
            + "J4,Tømrer,Byg ApS,herning,,,carpentry,,,,,2026-12-01,2026-11-01\n"  # expires before published
            + "J5,Elektriker,El A/S,herning,,,electrician,,,,,not-a-date,2026-12-31\n")
    listings, errors = parse_csv(text)
    assert [listing.id for listing in listings] == ["J1"]
    assert [(e.line, e.listing_id) for e in errors] == [(3, "J2"), (4, "J3"), (5, "J4"), (6, "J5")]
    assert "employer" in errors[0].reason
    assert "required_languages" in errors[1].reason
    assert errors[2].reason == "expires is before published"
    assert "published" in errors[3].reason


def test_csv_without_required_columns_is_refused_as_a_whole():
    listings, [error] = parse_csv("id,title\nJ1,Svejser\n")
    assert listings == [] and error.line == 1 and "employer" in error.reason


def test_json_list_or_object_and_positions():
    rows = [{"id": "A", "title": "Welder", "employer": "X", "municipality": "herning",
             "published": "2026-11-01", "expires": "2026-12-01"}, {"id": "B"}, "nonsense"]
    listings, errors = parse_json(json.dumps({"listings": rows}))
    assert [listing.id for listing in listings] == ["A"]
    assert [(e.line, e.listing_id) for e in errors] == [(2, "B"), (3, None)]
    assert parse_json(json.dumps(rows))[0][0].id == "A"


def test_json_that_is_not_json_says_so():
    listings, [error] = parse_json("{oops")
    assert listings == [] and "not valid JSON" in error.reason
