"""The one error a researcher meets when data is missing, worded so that it says what to do."""

from __future__ import annotations

from pathlib import Path


class DatasetNotFound(FileNotFoundError):
    """Dataset files are absent (and were not downloaded): the message says where they go, in one line."""

    @classmethod
    def at(cls, name: str, root: str | Path, expected: str, reason: str, setting: str) -> DatasetNotFound:
        """`name` not under `root`; `expected` names the files, `setting` the paths key to change."""
        return cls(
            f"{name} not found under {Path(root)}/ (expected {expected}) and {reason}: put the files there, "
            f"set {setting}, or run offline with dataset=mnist5k"
        )
