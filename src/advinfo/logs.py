"""One logging setup for every workflow script: messages, progress bars and tracebacks
all land in the job's log file."""

from __future__ import annotations

import logging
import sys
import traceback
from pathlib import Path
from types import TracebackType


def configure_logging(log_file: str | Path | None, level: int = logging.INFO) -> None:
    """Send logging, stderr (tqdm) and uncaught tracebacks to ``log_file``."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stdout)]
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        stream = open(log_file, "a", buffering=1)  # noqa: SIM115 - lives as long as the job
        sys.stderr = stream
        handlers = [logging.StreamHandler(stream)]
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )

    def log_uncaught(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        logging.getLogger("advinfo").critical("uncaught exception", exc_info=(kind, value, tb))
        traceback.print_exception(kind, value, tb, file=sys.__stderr__)

    sys.excepthook = log_uncaught
