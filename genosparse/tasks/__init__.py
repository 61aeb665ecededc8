"""Lightning training tasks: masked-LM pretraining and promoter classification."""

from genosparse.tasks.base import GenomicTask
from genosparse.tasks.mlm import MLMTask, mask_tokens
from genosparse.tasks.promoter import PromoterTask

TASKS = {"mlm": MLMTask, "promoter": PromoterTask}

__all__ = ["TASKS", "GenomicTask", "MLMTask", "PromoterTask", "mask_tokens"]
