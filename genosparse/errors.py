"""Exception types, one per area.

Every message names the file, the record or line, and what the user can do about it.
All derive from :class:`GenosparseError` (itself a ``ValueError``), so a pipeline can
catch every input problem of genosparse with one ``except``.
"""


class GenosparseError(ValueError):
    """Base class of every error genosparse raises on bad input or configuration."""


class FastaError(GenosparseError):
    """A FASTA file, index, contig name or coordinate is unusable."""


class SequenceError(GenosparseError):
    """A sequence or label file (TSV, FASTA + labels) is malformed."""


class VariantError(GenosparseError):
    """A VCF record or file is unusable."""


class LayoutError(GenosparseError):
    """A block-sparse layout or attention input is inconsistent."""


class ConfigError(GenosparseError):
    """A configuration or checkpoint is invalid."""
