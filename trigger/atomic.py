"""Atomic writes: an interrupted run leaves the previous file or directory intact; JSON is strict.

Files go to a temporary sibling and are renamed into place. Directories are built in a
temporary sibling and swapped in with two renames once complete.
"""

import contextlib
import json
import math
import os
import shutil
import tempfile
from pathlib import Path

from trigger.errors import TriggerError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_file(final: Path):
    """Yield a temporary sibling path to write; on success it replaces `final`, on error it is removed."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, final)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_bytes(path: Path, data: bytes) -> None:
    with atomic_file(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode())


def write_json(path: Path, data, sort_keys: bool = False) -> None:
    """Strict JSON (a NaN or infinity, which JSON cannot hold, becomes null), one-space indent, final newline."""
    write_text(path, json.dumps(_finite(data), indent=1, sort_keys=sort_keys, allow_nan=False) + "\n")


def read_json(path: Path, missing: str | None = None):
    """The content of a JSON file; a missing file gives None, or the one-line error `<path>: <missing>`."""
    path = Path(path)
    if path.is_file():
        return json.loads(path.read_text())
    if missing is not None:
        raise TriggerError(f"{path}: {missing}")
    return None


def _finite(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


@contextlib.contextmanager
def atomic_dir(final: Path):
    """Yield a fresh temporary directory; on success it replaces `final`, on error it is removed."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = final.with_name(f".{final.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def remove_stale(parent: Path) -> None:
    """Remove leftovers of interrupted atomic writes (hidden *.tmp / *.old entries)."""
    parent = Path(parent)
    if not parent.is_dir():
        return
    for p in list(parent.glob(".*.tmp")) + list(parent.glob(".*.old")):
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
