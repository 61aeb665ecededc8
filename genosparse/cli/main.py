"""The ``genosparse`` command: dispatches to the subcommand modules of ``genosparse.cli``."""

from __future__ import annotations

import sys
from importlib import import_module

COMMANDS = ("train", "score", "track", "embed", "vep", "ism")

USAGE = """usage: genosparse [-V | --version] COMMAND [ARGS]

commands:
  train [overrides]   train a model; Hydra overrides, e.g. experiment=demo trainer.max_steps=100
  score ...           score a FASTA with a checkpoint (genosparse score --help)
  track ...           per-base log-likelihood track as bigWig/bedGraph (genosparse track --help)
  embed ...           embeddings of sequences, BED intervals or tiled windows (genosparse embed --help)
  vep ...             score the variants of a VCF with a checkpoint (genosparse vep --help)
  ism ...             in-silico mutagenesis of a region (genosparse ism --help)

-o - writes to standard output (TSV, bedGraph, VCF); vep --vcf - reads standard input.
"""


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``genosparse`` console script."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        sys.exit(0 if argv else 2)
    if argv[0] in ("-V", "--version"):
        from genosparse import __version__

        print(f"genosparse {__version__}")
        sys.exit(0)
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"genosparse: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
        sys.exit(2)
    # each command's module is imported only when it runs (train pulls in Hydra and Lightning)
    import_module(f"genosparse.cli.{command}").main(rest)

if __name__ == "__main__":
    main()
