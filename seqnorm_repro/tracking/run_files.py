"""The files of a run directory, written atomically (temp file + rename) so a crash never leaves a
half-written one: metrics.jsonl (one line per epoch), results.json; and the config hash and comparison that
tell whether a run directory holds a run of a given config."""

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
_NOT_HASHED = {"paths", "logger", "name", "tags", "hydra"}
_NOT_HASHED_SETTINGS = {"trainer.resume", "trainer.progress", "dataset.num_workers", "dataset.download"}


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


def computed_settings(config: Mapping[str, Any]) -> dict[str, str]:
    """The settings of a resolved config that change what the run computes, as dotted keys and JSON
    values (so 1 and 1.0, a list and a tuple, compare as the hash sees them). An unset (None) setting
    counts as absent, so a field added to the schema later, unset by default, leaves the runs finished
    before it with their hash."""
    flat: dict[str, str] = {}

    def visit(node: Mapping[str, Any], prefix: str) -> None:
        for key, value in node.items():
            if isinstance(value, Mapping):
                visit(value, f"{prefix}{key}.")
            elif value is not None and prefix + key not in _NOT_HASHED_SETTINGS:
                flat[prefix + key] = json.dumps(value, sort_keys=True)

    visit({key: value for key, value in config.items() if key not in _NOT_HASHED}, "")
    return flat


def config_hash(config: Mapping[str, Any]) -> str:
    """A short hash of everything in a resolved config that changes what the run computes."""
    return _digest(computed_settings(config))


# Settings added to the schema since commit f7b12c6 retired the hash below: the configs it was taken of
# had none of them, so they are left out of it while unset. A field added later goes here too (the
# earlier hashes that tests/tracking/test_run_files.py pins stop matching until it does).
_ADDED_SINCE_THE_EARLIER_HASH = {"model.arch"}


def _hash_before_unset_settings_were_left_out(config: Mapping[str, Any]) -> str:
    """The hash that results.json and checkpoints recorded before commit f7b12c6 (unset settings kept,
    nested), so that the runs finished then still count as runs of their config."""
    kept = {key: value for key, value in config.items() if key not in _NOT_HASHED}
    for group, settings in kept.items():
        if isinstance(settings, Mapping):
            kept[group] = {
                key: value
                for key, value in settings.items()
                if f"{group}.{key}" not in _NOT_HASHED_SETTINGS
                and not (value is None and f"{group}.{key}" in _ADDED_SINCE_THE_EARLIER_HASH)
            }
    return _digest(kept)


def _digest(settings: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def record_mismatch(record: Mapping[str, Any], config: Mapping[str, Any], most: int = 4) -> str:
    """'' when a results.json or checkpoint `record` was written by a run of the resolved `config`: its
    hash (this version's or the earlier one), or the settings of the config it records, match. Else
    what differs, for a one-line message: `norm.eps 1e-05 -> 0.001, optim.lr unset -> 0.2` (the
    record's value first), or the two hashes when the record holds no config."""
    recorded_hash = record.get("config_hash")
    if recorded_hash in (config_hash(config), _hash_before_unset_settings_were_left_out(config)):
        return ""
    if not isinstance(record.get("config"), Mapping):
        return f"config hash {recorded_hash}; this config's is {config_hash(config)}"
    old, new = computed_settings(record["config"]), computed_settings(config)
    changed = [key for key in sorted(old.keys() | new.keys()) if old.get(key) != new.get(key)]
    shown = [f"{key} {old.get(key, 'unset')} -> {new.get(key, 'unset')}" for key in changed[:most]]
    return ", ".join(shown) + (f" and {len(changed) - most} more" if len(changed) > most else "")
