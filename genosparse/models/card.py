"""The ``README.md`` model card of a checkpoint folder, generated from the model: Hugging Face YAML
front-matter (library, license, tags, pipeline tag) and a summary of the architecture."""

from __future__ import annotations

from typing import TYPE_CHECKING

from huggingface_hub import ModelCardData

import genosparse

if TYPE_CHECKING:
    from genosparse.models.backbone import GenomicModel

LIBRARY = "genosparse"
LICENSE = "apache-2.0"
PIPELINE_TAGS = {"mlm": "fill-mask", "classification": "text-classification"}


def model_card(model: GenomicModel) -> str:
    """The model card of ``model`` as ``README.md`` text: YAML front-matter between ``---`` lines
    (``library_name``, ``license``, ``pipeline_tag``, ``tags`` with the attention patterns), then the
    head, backbone size, attention pattern of each layer and context length."""
    cfg = model.config
    layers = [cfg.attention.for_layer(i).pattern for i in range(cfg.num_layers)]
    metadata = ModelCardData(library_name=LIBRARY, license=LICENSE, pipeline_tag=PIPELINE_TAGS[cfg.head],
                             tags=["genomics", "dna", "block-sparse-attention", *sorted(set(layers))])
    parameters = sum(p.numel() for p in model.parameters())
    outputs = f"{cfg.num_outputs} logit{'s' if cfg.num_outputs > 1 else ''}"
    rows = {
        "head": f"`{cfg.head}`, " + ("masked-LM: per-base logits over A, C, G, T" if cfg.head == "mlm" else
                                     f"sequence classification: {outputs} from the mean of the token states"),
        "backbone": f"{cfg.num_layers} layers, d_model {cfg.d_model}, {cfg.num_heads} heads, MLP x{cfg.mlp_ratio}, "
                    f"{parameters:,} parameters",
        "attention": (f"`{layers[0]}` in every layer" if len(set(layers)) == 1 else
                      "by layer: " + ", ".join(f"`{p}`" for p in layers))
                     + f", blocks of {cfg.attention.block_size} tokens",
        "context": f"{cfg.context_length:,} tokens (single bases)",
        "written by": f"genosparse {genosparse.__version__}",
    }
    table = "\n".join(f"| {name} | {value} |" for name, value in rows.items())
    return (f"---\n{metadata.to_yaml()}\n---\n\n# genosparse {cfg.head} model\n\n"
            "A genosparse checkpoint folder: `config.json` (`model_type: genosparse`; architecture, attention "
            "layout, vocabulary) and `model.safetensors`.\n\n"
            f"| | |\n|---|---|\n{table}\n\n"
            "```python\nfrom genosparse.models import GenomicModel\n\n"
            "model = GenomicModel.from_pretrained(\"<this folder or Hub repo id>\")  # or genosparse.load_model\n"
            "```\n")
