"""genosparse: genomics long-sequence modeling on block-sparse attention.

The main entry points are importable from the top level; they load on first use, so
``import genosparse`` stays light and needs none of the optional packages::

    genosparse.load_model(path)            # checkpoint folder -> GenomicModel
    genosparse.GenomicModel.from_pretrained("chr20-mlm")  # the same through huggingface_hub's mixin
    genosparse.score_fasta(model, fasta)   # stream ScoreRow per record / window
    genosparse.score_sequences(["ACGT...", ...], model)  # the same for in-memory sequences
    genosparse.score_variants(model, fasta, vcf)  # stream VariantScore per ALT (vcf: path, VariantFile, DataFrame)
    genosparse.embed(model, fasta, bed=...)  # stream (N, C) / (N, L, C) embeddings with coordinates
    genosparse.collect_embeddings(stream)  # the stream as numpy arrays with names (.to_anndata())
    genosparse.Genome(path)                # FASTA access (plain or BGZF)
    genosparse.sparse_attention(q, k, v, layout)
    genosparse.to_dataframe(stream)        # any of those streams as a pandas DataFrame (flat columns)
"""

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "Genome": "genosparse.genome",
    "GenomicModel": "genosparse.models",
    "collect_embeddings": "genosparse.scoring.embed",
    "embed": "genosparse.scoring.embed",
    "load_model": "genosparse.models",
    "save_model": "genosparse.models",
    "score_fasta": "genosparse.scoring",
    "score_sequences": "genosparse.scoring",
    "score_variants": "genosparse.scoring.vep",
    "sparse_attention": "genosparse.attention",
    "to_dataframe": "genosparse.io",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'genosparse' has no attribute {name!r}")
