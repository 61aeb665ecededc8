"""Lightning training tasks: masked-LM pretraining, promoter classification, variant effects."""

from genosparse.tasks.base import GenomicTask
from genosparse.tasks.mlm import MLMTask, mask_tokens
from genosparse.tasks.promoter import PromoterTask
from genosparse.tasks.variant_effect import VariantEffectTask

TASKS = {"mlm": MLMTask, "promoter": PromoterTask, "variant_effect": VariantEffectTask}

__all__ = ["TASKS", "GenomicTask", "MLMTask", "PromoterTask", "VariantEffectTask", "mask_tokens"]
