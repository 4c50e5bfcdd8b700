"""Datasets, transforms and loaders: `build_data` turns the dataset and augment configs into a DataBundle."""

from seqnorm_repro.data.build import build_data
from seqnorm_repro.data.errors import DatasetNotFound
from seqnorm_repro.data.loaders import DataBundle

__all__ = ["DataBundle", "DatasetNotFound", "build_data"]
