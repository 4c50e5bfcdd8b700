"""The errors a researcher meets when data is missing or unusable, worded so that they say what to do."""

from __future__ import annotations

from pathlib import Path


class DatasetNotFound(FileNotFoundError):
    """Dataset files are absent (and were not downloaded): the message says where they go, in one line."""

    def __init__(self, message: str, missing: str = "", setting: str = "") -> None:
        super().__init__(message)
        self.missing = missing  # what is missing and where, without advice (make reproduce-* gives its own)
        self.setting = setting  # the paths key that moves where the files are looked for

    @classmethod
    def at(cls, name: str, root: str | Path, expected: str, reason: str, setting: str) -> DatasetNotFound:
        """`name` not under `root`; `expected` names the files, `setting` the paths key to change."""
        missing = f"{name} not found under {Path(root)}/ (expected {expected}) and {reason}"
        advice = f"put the files there, set {setting}, or run offline with dataset=mnist5k"
        return cls(f"{missing}: {advice}", missing, setting)


class DatasetUnusable(DatasetNotFound):
    """Dataset files are there but cannot be used (a truncated file, folders that do not match): no usable
    copy was found, so everything that stops on a missing dataset with one line stops on this too."""
