"""The files of a run directory, written atomically (temp file + rename) so a crash never leaves a
half-written one: metrics.jsonl (one line per epoch), results.json, and the config hash."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

# Config keys that do not change what a run computes: where it writes, how it logs, how it resumes.
_NOT_HASHED = {"paths", "logger", "name", "tags"}
_NOT_HASHED_TRAINER = {"resume", "progress"}
_NOT_HASHED_DATASET = {"num_workers", "download"}


# The process's umask, read once at import (reading it means setting it, which is not thread-safe later).
_UMASK = os.umask(0o022)
os.umask(_UMASK)


@contextmanager
def atomic_replace(path: Path, mode: str = "wb") -> Iterator[IO]:
    """A handle on a new temp file in `path`'s folder, moved onto `path` (os.replace) when the block ends
    without an error and deleted when it raises: readers see the old file or the whole new one. Its mode
    is what open() would give (0644 under umask 022), not mkstemp's 0600, so the run's readers can read it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, mode) as handle:
            yield handle
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` atomically (see atomic_replace)."""
    with atomic_replace(path, "w") as handle:
        handle.write(text)


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in `path`, or None when the file is absent, unreadable or holds no object."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def write_jsonl(path: Path, rows: Iterable[Mapping[str, Any]]) -> None:
    """Rewrite the whole file: it always matches the history in the latest checkpoint."""
    atomic_write_text(path, "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows))


def config_hash(config: Mapping[str, Any]) -> str:
    """A short hash of everything in a resolved config that changes what the run computes."""
    kept = {key: value for key, value in config.items() if key not in _NOT_HASHED and key != "hydra"}
    if "trainer" in kept:
        kept["trainer"] = {k: v for k, v in kept["trainer"].items() if k not in _NOT_HASHED_TRAINER}
    if "dataset" in kept:
        kept["dataset"] = {k: v for k, v in kept["dataset"].items() if k not in _NOT_HASHED_DATASET}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16]
