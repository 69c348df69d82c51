"""Atomic file writes: every output is complete or absent, even after a crash or kill."""

from __future__ import annotations

import json
import os
import pickle
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


def _umask() -> int:
    """The process's umask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_error(path: Path, err: OSError) -> OSError:
    """``err`` with the file it failed to write in its message."""
    message = f"cannot write {path}: {err.strerror or err}"
    return OSError(message) if err.errno is None else OSError(err.errno, message)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success.

    The file gets the permissions a plain ``open`` would give it (0666 less the umask; a bare
    temporary file would be 0600, unreadable to collaborators), and an I/O error while writing
    (a full disk, a quota) names ``path``.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.fchmod(fd, 0o666 & ~_umask())
        os.close(fd)
    except OSError as err:
        raise _write_error(path, err) from err
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise _write_error(path, err) from err
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(obj: Any, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def write_text(text: str, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def read_json(path: str | Path) -> Any:
    """Parse a JSON file; a truncated or malformed one raises naming it."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} is missing, truncated or not JSON ({err})") from err


def read_csv(path: str | Path) -> pd.DataFrame:
    """Read a CSV file; a truncated or malformed one raises naming it."""
    import pandas as pd  # imported here: most jobs write no table, and pandas costs a quarter second

    try:
        return pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise ValueError(f"{path} is missing, truncated or not CSV ({err})") from err


def save_tensors(obj: dict[str, Any], path: str | Path) -> None:
    """torch.save a dict of tensors and plain values (loadable with weights_only=True)."""
    import torch  # imported here, as below: the table and figure jobs write files without torch

    with atomic_path(path) as tmp:
        try:
            torch.save(obj, tmp)
        except RuntimeError as err:  # torch reports a failed write (a full disk) without the file
            raise OSError(None, f"torch could not finish the file ({err}); is the disk or quota full?") from err


class UnsafeFileError(ValueError):
    """A tensor file that needs code to unpickle (refused, never run)."""


def load_tensors(path: str | Path) -> dict[str, Any]:
    """Load a file written by :func:`save_tensors` without unpickling any code."""
    import torch

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise UnsafeFileError(
            f"{path} holds objects that need code to unpickle; refused (only tensors and plain values "
            f"are loaded, weights_only=True). Details: {str(err).splitlines()[-1][:300]}"
        ) from err
    except Exception as err:  # torch raises RuntimeError/EOFError/zipfile errors variously
        raise ValueError(f"{path} is corrupt, truncated or not a tensor file ({err})") from err
