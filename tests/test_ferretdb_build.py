"""The Go tests of our FerretDB main (deploy/ferretdb/*_test.go: what idindex.go does to a database file), run in
the build directory `deploy/ferretdb.sh install` makes (the pinned module with our patches applied)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("go") is None, reason="needs Go (our FerretDB build); MongoDB users have none")
def test_the_ferretdb_main_passes_its_go_tests():
    subprocess.run([str(ROOT / "deploy" / "ferretdb.sh"), "install"], check=True, cwd=ROOT, capture_output=True)
    result = subprocess.run(["go", "test", "-count=1", "./..."], cwd=ROOT / ".cache" / "ferretdb-build" / "main",
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok" in result.stdout  # the package's tests ran (not "no test files")
