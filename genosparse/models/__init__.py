"""The sparse-attention DNA transformer, its config and checkpoints."""

from genosparse.models.backbone import Backbone, GenomicModel
from genosparse.models.checkpoint import load_model, save_model
from genosparse.models.config import ModelConfig

__all__ = ["Backbone", "GenomicModel", "ModelConfig", "load_model", "save_model"]
