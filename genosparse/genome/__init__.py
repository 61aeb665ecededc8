"""Reference genomes: FASTA access and contig naming (0-based, end-exclusive)."""

from genosparse.genome.contigs import contig_aliases, resolve_contig
from genosparse.genome.fasta import Genome

__all__ = ["Genome", "contig_aliases", "resolve_contig"]
