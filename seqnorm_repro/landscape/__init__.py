"""The loss-landscape probe (Santurkar et al. 2018; the paper's Section 3.1 and A.2) and its figures.

probe.py: the trainer callback that measures; records.py: what it measured and landscape.npz;
figures.py: the sweeps behind Figures 2, 3, 6 and 7; plot.py: their matplotlib rendering.
"""

from seqnorm_repro.landscape.probe import LossLandscapeProbe, probe_losses
from seqnorm_repro.landscape.records import RECORDS_FILE, LandscapeRecords, load_records

__all__ = ["RECORDS_FILE", "LandscapeRecords", "LossLandscapeProbe", "load_records", "probe_losses"]
