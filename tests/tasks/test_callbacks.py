"""Training faults: a NaN or infinite loss stops the run naming the step and keeps the last good
state; SIGTERM saves a checkpoint that ``ckpt_path=last`` resumes."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module

from genosparse.cli.train import run
from genosparse.errors import ConfigError, TrainingError
from genosparse.tasks import PromoterTask

HERE = Path(__file__).parent


def _promoter_cfg(shared_data, out, *overrides):
    with initialize_config_module("genosparse.conf", version_base="1.3"):
        return compose("train", overrides=["experiment=promoter", f"data_dir={shared_data}", f"output_dir={out}",
                                           "trainer.enable_progress_bar=false", "trainer.max_steps=20",
                                           *overrides])


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_loss_stops_naming_the_step_and_keeps_the_last_good_state(shared_data, tmp_path, monkeypatch,
                                                                             bad):
    poison_at, states = 3, {}
    training_step = PromoterTask.training_step

    def poisoned(self, batch, batch_idx):
        loss = training_step(self, batch, batch_idx)
        states[self.global_step] = {k: v.detach().clone() for k, v in self.state_dict().items()}
        return loss * bad if self.global_step == poison_at else loss

    monkeypatch.setattr(PromoterTask, "training_step", poisoned)
    with pytest.raises(TrainingError, match=rf"loss is {bad} at step {poison_at} \(epoch 0\)") as err:
        run(_promoter_cfg(shared_data, tmp_path))
    last = tmp_path / "logs" / "checkpoints" / "last.ckpt"
    assert f"saved in {last}" in str(err.value) and "ckpt_path=last" in str(err.value)
    saved = torch.load(last, map_location="cpu", weights_only=False)
    assert saved["global_step"] == poison_at
    weights = saved["state_dict"]
    assert all(torch.isfinite(w).all() for w in weights.values())
    # the state the poisoned step started from: 3 updates done, the 4th never applied
    assert all(torch.equal(weights[k], states[poison_at][k]) for k in weights)
    assert not all(torch.equal(weights[k], states[poison_at - 1][k]) for k in weights)
    assert not (tmp_path / "checkpoint").exists()  # no model exported from a failed run


def test_ckpt_path_last_without_a_checkpoint_names_the_run_that_has_one(shared_data, tmp_path):
    (tmp_path / "old" / "logs" / "checkpoints").mkdir(parents=True)
    (tmp_path / "old" / "logs" / "checkpoints" / "last.ckpt").write_bytes(b"")
    with pytest.raises(TrainingError, match=f"no checkpoint in {tmp_path / 'new'}.*newest run folder with one is "
                                            f"{tmp_path / 'old'}"):
        run(_promoter_cfg(shared_data, tmp_path / "new", "ckpt_path=last"))


def test_ckpt_path_to_a_checkpoint_folder_points_to_init_from(shared_data, tmp_path):
    folder = tmp_path / "exported"
    folder.mkdir()
    with pytest.raises(ConfigError, match="no such Lightning checkpoint file.*task.init_from"):
        run(_promoter_cfg(shared_data, tmp_path / "new", f"ckpt_path={folder}"))


def _train(shared_data, run_dir, *overrides):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    return subprocess.Popen(
        [sys.executable, "-m", "genosparse.cli.main", "train", "experiment=promoter", f"data_dir={shared_data}",
         f"hydra.run.dir={run_dir}", "trainer.enable_progress_bar=false", "final_validation=false",
         "+callbacks.probe._target_=training_probe.Probe", f"+callbacks.probe.folder={run_dir}", *overrides],
        cwd=run_dir.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_sigterm_saves_a_checkpoint_that_ckpt_path_last_resumes(shared_data, tmp_path):
    run_dir = tmp_path / "run"
    first = _train(shared_data, run_dir, "trainer.max_steps=100000")
    deadline = time.monotonic() + 300
    while not (run_dir / "step_3").exists():  # the probe marks each step
        assert first.poll() is None and time.monotonic() < deadline, first.communicate()[1][-3000:]
        time.sleep(0.2)
    first.send_signal(signal.SIGTERM)
    _, err = first.communicate(timeout=300)
    assert first.returncode == 128 + signal.SIGTERM, err[-3000:]
    assert "Traceback" not in err
    assert "stopped by SIGTERM at step" in err and f"hydra.run.dir={run_dir} ckpt_path=last" in err
    last = run_dir / "logs" / "checkpoints" / "last.ckpt"
    stopped = torch.load(last, map_location="cpu", weights_only=False)["global_step"]
    assert stopped >= 3 and f"at step {stopped};" in err
    assert not (run_dir / "checkpoint").exists()

    second = _train(shared_data, run_dir, "ckpt_path=last", f"trainer.max_steps={stopped + 2}")
    out, err = second.communicate(timeout=600)
    assert second.returncode == 0, err[-3000:]
    assert f"resuming:   {last}" in out
    assert (run_dir / "started_at").read_text() == str(stopped)  # continued from the saved step
    assert (run_dir / "checkpoint" / "model.safetensors").is_file()
    assert max(int(p.name.removeprefix("step_")) for p in run_dir.glob("step_*")) == stopped + 2


def test_checkpointing_is_on_by_default_and_ckpt_path_last_resumes_it(shared_data, tmp_path, capsys):
    """callbacks.model_checkpoint writes last.ckpt after each validation (here: each 3-batch epoch)."""
    quick = ["+trainer.limit_train_batches=3", "trainer.limit_val_batches=1", "final_validation=false",
             "+callbacks.probe._target_=training_probe.Probe", f"+callbacks.probe.folder={tmp_path}"]
    run(_promoter_cfg(shared_data, tmp_path, *quick, "trainer.max_steps=3"))
    last = tmp_path / "logs" / "checkpoints" / "last.ckpt"
    assert sorted(p.name for p in last.parent.iterdir()) == ["last.ckpt"]
    first = torch.load(last, map_location="cpu", weights_only=False)
    assert first["global_step"] == 3 and (tmp_path / "started_at").read_text() == "0"
    assert any(key.startswith("ModelCheckpoint") for key in first["callbacks"])

    run(_promoter_cfg(shared_data, tmp_path, *quick, "trainer.max_steps=6", "ckpt_path=last"))
    assert f"resuming:   {last}" in capsys.readouterr().out
    assert (tmp_path / "started_at").read_text() == "3"  # continued from the saved step, not from 0
    assert sorted(p.name for p in last.parent.iterdir()) == ["last.ckpt"]  # written again, no last-v1.ckpt
    second = torch.load(last, map_location="cpu", weights_only=False)
    assert second["global_step"] == 6
    assert sorted(int(p.name.removeprefix("step_")) for p in tmp_path.glob("step_*")) == [1, 2, 3, 4, 5, 6]
    assert not all(torch.equal(v, second["state_dict"][k]) for k, v in first["state_dict"].items())


def test_enable_checkpointing_false_turns_the_model_checkpoint_off(shared_data, tmp_path):
    run(_promoter_cfg(shared_data, tmp_path, "+trainer.limit_train_batches=3", "trainer.limit_val_batches=1",
                      "trainer.max_steps=3", "final_validation=false", "trainer.enable_checkpointing=false"))
    assert not (tmp_path / "logs" / "checkpoints").exists() and (tmp_path / "checkpoint").is_dir()
