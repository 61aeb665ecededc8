"""Lightning DataModules: genome windows (MLM) and labeled sequences (classification)."""

from genosparse.datamodules.genome import GenomeWindowDataModule
from genosparse.datamodules.labeled import LabeledSequenceDataModule

__all__ = ["GenomeWindowDataModule", "LabeledSequenceDataModule"]
