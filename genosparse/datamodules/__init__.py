"""Lightning DataModules: genome windows (MLM), labeled sequences, variant REF/ALT pairs."""

from genosparse.datamodules.genome import GenomeWindowDataModule
from genosparse.datamodules.labeled import LabeledSequenceDataModule
from genosparse.datamodules.variants import VariantDataModule

__all__ = ["GenomeWindowDataModule", "LabeledSequenceDataModule", "VariantDataModule"]
