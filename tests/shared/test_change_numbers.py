"""The change numbers the stores' writers take turns by (shared.concurrency) and the compaction's place among them
(shared.outbox): pure rules, no servers."""

from __future__ import annotations

from shared.concurrency import as_change_number, next_change_number
from shared.outbox import compaction_as_next_change, compaction_counted_by


def test_a_document_counting_its_changes_takes_the_next_number_and_records_it():
    assert next_change_number({}) == 1
    assert next_change_number({"changes": 4}) == 5
    update = as_change_number({"$set": {"status": "closed"}, "$push": {"notes": "x"}}, 5)
    assert update == {"$set": {"status": "closed", "changes": 5}, "$push": {"notes": "x"}}
    assert as_change_number({"$unset": {"a": ""}}, 2) == {"$unset": {"a": ""}, "$set": {"changes": 2}}


def test_a_compaction_of_a_counting_document_is_its_next_change():
    doc = {"changes": 2, "outbox": {"e1": {}, "e2": {}}}
    step, update = compaction_as_next_change(doc, ["e1"])
    assert step == 3
    assert update["$set"]["changes"] == 3 and "outbox_compacted_at" in update["$set"]
    assert update["$unset"] == {"outbox.e1": ""}  # e2 is not published yet: it stays


def test_a_compaction_of_a_document_numbered_by_its_history_counts_itself():
    def step(doc):  # as a task: history entries and compactions so far
        return len(doc["history"]) + doc.get("compactions", 0)
    change = compaction_counted_by(step)
    doc = {"history": ["new", "acknowledged"], "compactions": 1, "outbox": {"e1": {}}}
    number, update = change(doc, ["e1"])
    assert number == 3
    assert update["$inc"] == {"compactions": 1}
    assert update["$unset"] == {"outbox": "", "outbox_added_at": ""}  # nothing left owing
