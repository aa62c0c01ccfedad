"""Per-municipality data files: each service keeps its own under services/<name>/data/<municipality>.json."""

import json
from pathlib import Path
from typing import Any


def load_municipality_file(service_dir: Path, municipality: str) -> dict[str, Any]:
    path = service_dir / "data" / f"{municipality}.json"
    if not path.exists():
        raise FileNotFoundError(f"no data file for municipality {municipality!r}: expected {path}")
    return json.loads(path.read_text(encoding="utf-8"))
