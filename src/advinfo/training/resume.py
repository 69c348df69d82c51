"""Resuming a training run after its last finished epoch, only when the saved state belongs to
the same run."""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

from advinfo.fileio import load_tensors
from advinfo.plan.hyperparameters import TrainConfig

log = logging.getLogger(__name__)


def fingerprint(cfg: TrainConfig, extra: dict[str, Any]) -> str:
    """Identity of a run; a resume file from a different run is not reused."""
    return repr(sorted({**asdict(cfg), **extra}.items()))


def load_resume(path: Path | None, fp: str) -> dict[str, Any] | None:
    """The state saved at ``path`` after a finished epoch, if it exists, reads and belongs to the
    run ``fp``; None (start afresh) otherwise."""
    if path is None or not path.exists():
        return None
    try:
        state = load_tensors(path)
    except ValueError as err:
        log.warning("ignoring unreadable resume state: %s", err)
        return None
    if state.get("fingerprint") != fp:
        log.warning("resume state %s belongs to another configuration; starting afresh", path)
        return None
    log.info("resuming from %s after epoch %d", path, state["epoch"])
    return state
