"""The top-level package: light import, lazy exports, the datamodules' file formats."""

import subprocess
import sys

import genosparse
from genosparse.datamodules import LabeledSequenceDataModule
from genosparse.sequence.labeled import read_labeled_tsv


def test_top_level_exports_are_the_library_functions():
    from genosparse.models import load_model
    from genosparse.scoring import score_fasta, score_sequences
    from genosparse.scoring.embed import collect_embeddings

    assert genosparse.load_model is load_model and genosparse.score_fasta is score_fasta
    assert genosparse.score_sequences is score_sequences and genosparse.collect_embeddings is collect_embeddings


def test_import_is_light():
    code = ("import sys, genosparse; print(sorted(m for m in ('torch', 'pyfaidx', 'hydra', 'lightning', 'pandas') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_labeled_datamodule_reads_tsv_and_fasta_with_labels(shared_data, tmp_path):
    val = read_labeled_tsv(shared_data / "promoters" / "prom_core_val.tsv")
    fasta, labels = tmp_path / "val.fa", tmp_path / "val_labels.tsv"
    fasta.write_text("".join(f">r{i}\n{s}\n" for i, s in enumerate(val.sequences)))
    labels.write_text("name\tlabel\n" + "".join(f"r{i}\t{y}\n" for i, y in enumerate(val.labels)))
    dm = LabeledSequenceDataModule(shared_data / "promoters" / "prom_core_train.tsv", str(fasta),
                                   val_labels=str(labels), batch_size=900)
    dm.setup()
    batch = next(iter(dm.val_dataloader()))
    assert len(dm.train_set) == 4019 and len(dm.val_set) == 900
    assert batch["label"].tolist() == [float(y) for y in val.labels]
