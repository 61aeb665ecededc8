"""The ``genosparse`` command: ``train`` (Hydra) and ``score``."""

from __future__ import annotations

import sys

USAGE = """usage: genosparse COMMAND [ARGS]

commands:
  train [overrides]   train a model; Hydra overrides, e.g. experiment=demo trainer.max_steps=100
  score ...           score a FASTA with a checkpoint (genosparse score --help)
  track ...           per-base log-likelihood track as bigWig/bedGraph (genosparse track --help)
  embed ...           embeddings of sequences, BED intervals or tiled windows (genosparse embed --help)
  vep ...             score the variants of a VCF with a checkpoint (genosparse vep --help)
  ism ...             in-silico mutagenesis of a region (genosparse ism --help)
"""


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``genosparse`` console script."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        sys.exit(0 if argv else 2)
    command, rest = argv[0], argv[1:]
    if command == "train":
        from genosparse.cli.train import main as train_main
        train_main(rest)
    elif command == "score":
        from genosparse.cli.score import main as score_main
        score_main(rest)
    elif command == "track":
        from genosparse.cli.track import main as track_main
        track_main(rest)
    elif command == "embed":
        from genosparse.cli.embed import main as embed_main
        embed_main(rest)
    elif command == "vep":
        from genosparse.cli.vep import main as vep_main
        vep_main(rest)
    elif command == "ism":
        from genosparse.cli.ism import main as ism_main
        ism_main(rest)
    else:
        print(f"genosparse: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
