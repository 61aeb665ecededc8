"""A callback the SIGTERM test adds through Hydra (``+callbacks.probe``): it marks each finished step
with a file ``step_<n>`` and records the step a run starts at in ``started_at``."""

from pathlib import Path

import lightning as L


class Probe(L.Callback):
    def __init__(self, folder: str):
        self.folder = Path(folder)

    def on_train_start(self, trainer, pl_module):
        (self.folder / "started_at").write_text(str(trainer.global_step))

    def on_train_batch_end(self, trainer, *args):
        (self.folder / f"step_{trainer.global_step}").touch()
