"""Hydra configuration shipped with genosparse: ``train.yaml`` and its config groups."""
