"""Plain, one-line logs. Never log personal data: log case ids and event ids, not names or addresses."""

import logging
import os


def configure_logging(service_name: str) -> None:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        format=f"%(asctime)s %(levelname)s {service_name} %(name)s: %(message)s",
    )
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
