"""The Go tests of our FerretDB main (deploy/ferretdb/*_test.go: what idindex.go does to a database file), run in
the build directory `deploy/ferretdb.sh install` makes (the pinned module with our patches applied)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from pymongo.errors import DuplicateKeyError

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("go") is None, reason="needs Go (our FerretDB build); MongoDB users have none")
def test_the_ferretdb_main_passes_its_go_tests():
    subprocess.run([str(ROOT / "deploy" / "ferretdb.sh"), "install"], check=True, cwd=ROOT, capture_output=True)
    result = subprocess.run(["go", "test", "-count=1", "./..."], cwd=ROOT / ".cache" / "ferretdb-build" / "main",
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok" in result.stdout  # the package's tests ran (not "no test files")


async def test_after_our_index_pass_a_database_is_listed_and_id_stays_unique(infrastructure, mongo_client):
    """Our FerretDB main drops FerretDB's own _id index (a unique one on the queried expression replaces it) and
    its non-unique field indexes. FerretDB still names them in its metadata: its database statistics summed the
    sizes of no index at all (NULL), failed, and listDatabases left the database out (deploy/ferretdb/stats.patch)."""
    if infrastructure.how != "local scripts":
        pytest.skip("our FerretDB build only (MongoDB keeps its own indexes)")
    name = f"test_{infrastructure.run_id}_index_pass"
    db = mongo_client[name]
    await db.tasks.create_index([("status", 1)])
    await db.tasks.insert_one({"_id": "a", "status": "new"})
    data_dir = Path(os.environ.get("VELKOMMEN_DATA_DIR", ROOT / ".data")) / "ferretdb" / "data"
    file = data_dir / f"{name}.sqlite"
    assert file.exists(), file

    def indexes() -> set[str]:
        with contextlib.closing(sqlite3.connect(f"file:{file}?mode=ro", uri=True)) as conn:
            return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}

    def passed(names: set[str]) -> bool:  # the unique _id index made and FerretDB's own dropped
        return any(i.endswith("__id_key") for i in names) and not any(i.endswith("__id_") for i in names)

    deadline = time.monotonic() + 30
    while not passed(names := indexes()):
        assert time.monotonic() < deadline, f"no index pass within 30 s: {sorted(names)}"
        await asyncio.sleep(0.2)  # the pass runs every 2 s (deploy/ferretdb/main.go)
    assert not any(i.endswith("_status_1") for i in names)  # FerretDB's non-unique one is gone too

    assert name in await mongo_client.list_database_names()
    stats = await db.command("dbStats")
    assert stats["collections"] == 1 and stats["objects"] >= 1
    with pytest.raises(DuplicateKeyError):
        await db.tasks.insert_one({"_id": "a", "status": "other"})
    assert await db.tasks.find_one({"_id": "a"}) == {"_id": "a", "status": "new"}
