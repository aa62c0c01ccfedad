"""Run one service: `python -m shared.serve registration [--port 8001]`.

uvicorn, after a graceful shutdown on SIGTERM, re-raises the signal, so the process ends "killed by SIGTERM"
(exit status 143) even though it finished its batch, committed and closed its clients. Process supervisors
(systemd, Kubernetes) read that as a failure. Here the signal only starts the graceful shutdown, and the exit
status says how it went: 0 after a clean shutdown, 1 when the app failed to start or stop.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import signal
import sys
from collections.abc import Iterator

import uvicorn

SERVICES = ("registration", "welcome_pack", "school_intake", "job_match")
DEFAULT_PORTS = dict(zip(SERVICES, (8001, 8002, 8003, 8004), strict=True))


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.serve", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("service", choices=SERVICES)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int)
    parser.add_argument("--access-log", action="store_true", help="log every request (paths only; off by default)")
    args = parser.parse_args(argv)
    module = importlib.import_module(f"services.{args.service}.app")
    config = uvicorn.Config(module.create_app, factory=True, host=args.host,
                            port=args.port or DEFAULT_PORTS[args.service], access_log=args.access_log,
                            lifespan="on", timeout_graceful_shutdown=20,
                            log_config=None)  # the service's own JSON logging (shared/logs.py) applies
    server = _Server(config)
    server.run()
    # uvicorn sets started only after the lifespan start-up succeeded; a failed start-up must not look clean.
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
