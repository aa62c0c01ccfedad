"""Structured logs: one JSON object per line, with the case, event and correlation ids of the work in hand.

Never personal data: log case ids and event ids, not names, addresses or CPR numbers. LOG_FORMAT=text gives
plain lines for a developer's terminal.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from types import MappingProxyType

# The ids of what this task is working on (an event being handled); added to every log line it writes.
_context: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar("log_context",
                                                                          default=MappingProxyType({}))


@contextlib.contextmanager
def log_context(**ids: object) -> Iterator[None]:
    token = _context.set({**_context.get(), **{k: str(v) for k, v in ids.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
            **_context.get(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(service_name: str) -> None:
    root = logging.getLogger()
    root.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
    formatter: logging.Formatter = (
        logging.Formatter(f"%(asctime)s %(levelname)s {service_name} %(name)s: %(message)s")
        if os.environ.get("LOG_FORMAT", "json") == "text" else JsonFormatter(service_name))
    ours = [h for h in root.handlers if getattr(h, "velkommen", False)]
    if ours:
        for handler in ours:
            handler.setFormatter(formatter)
    else:
        handler = logging.StreamHandler()
        handler.velkommen = True  # type: ignore[attr-defined]
        handler.setFormatter(formatter)
        root.addHandler(handler)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    # uvicorn's loggers write through ours (shared.serve starts uvicorn without its own logging config). The
    # access log stays as shared.serve set it (off by default: paths carry case ids, and nobody needs them).
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
