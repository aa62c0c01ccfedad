"""Command line for the job match.

    python -m services.job_match.cli import FILE [--url http://127.0.0.1:8004]

Sends a JSON or CSV listing export to the running service's import endpoint (the one path that stores and
publishes listings) and prints the import report; exits 1 when some rows were refused.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import httpx


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.job_match.cli")
    commands = parser.add_subparsers(dest="command", required=True)
    imp = commands.add_parser("import", help="import a Jobnet-style listing export (.json or .csv)")
    imp.add_argument("file", type=Path)
    imp.add_argument("--url", default="http://127.0.0.1:8004", help="the job match service")
    args = parser.parse_args(argv)

    content_type = "text/csv" if args.file.suffix.lower() == ".csv" else "application/json"
    response = httpx.post(f"{args.url}/listings/import", content=args.file.read_bytes(),
                          headers={"Content-Type": content_type}, timeout=300)
    if response.status_code != 200:
        print(f"import refused ({response.status_code}): {response.text}", file=sys.stderr)
        return 2
    report = response.json()
    print(f"{report['received']} rows: {report['new']} new, {report['changed']} changed, "
          f"{report['unchanged']} unchanged, {len(report['errors'])} refused")
    for error in report["errors"]:
        print(f"  line {error['line']}: {error['reason']}", file=sys.stderr)
    return 1 if report["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
