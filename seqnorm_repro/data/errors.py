"""The errors a researcher meets when data is missing or unusable, worded so that they say what to do."""

from __future__ import annotations

from pathlib import Path


class DatasetNotFound(FileNotFoundError):
    """Dataset files are absent (and were not downloaded): the message says where they go, in one line."""

    missing: str = ""  # what is missing and where, without the advice (make reproduce-* gives its own)
    setting: str = ""  # the paths key that moves where the files are looked for

    @classmethod
    def at(cls, name: str, root: str | Path, expected: str, reason: str, setting: str) -> DatasetNotFound:
        """`name` not under `root`; `expected` names the files, `setting` the paths key to change."""
        missing = f"{name} not found under {Path(root)}/ (expected {expected}) and {reason}"
        error = cls(f"{missing}: put the files there, set {setting}, or run offline with dataset=mnist5k")
        error.missing, error.setting = missing, setting
        return error


class DatasetUnusable(DatasetNotFound):
    """Dataset files are there but cannot be used (a truncated file, folders that do not match): no usable
    copy was found, so everything that stops on a missing dataset with one line stops on this too."""
