import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from genosparse.errors import SequenceError
from genosparse.sequence.labeled import (
    LabeledSequenceDataset,
    LabeledSequences,
    read_labeled_fasta,
    read_labeled_tsv,
)
from genosparse.sequence.vocab import PAD, encode, reverse_complement


@pytest.mark.parametrize(("file_name", "rows"), [("prom_core_train.tsv", 4019), ("prom_core_val.tsv", 900)])
def test_real_promoter_tsvs(shared_data, file_name, rows):
    path = shared_data / "promoters" / file_name
    data = read_labeled_tsv(path)
    assert len(data) == rows == len(data.sequences) == len(data.labels)
    assert data.labels.dtype == np.int64 and set(data.labels.tolist()) == {0, 1}
    assert {len(s) for s in data.sequences} == {70}
    lines = path.read_text().splitlines()
    first_seq, first_label = lines[1].split("\t")
    assert data.sequences[0] == first_seq and data.labels[0] == int(first_label)
    assert data.names[0] == f"{file_name}:2"


def write(tmp_path, text, name="data.tsv"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("", "is empty"),
        ("sequence\tlabel\n", "no rows"),
        ("ACGT\t1\nCCGG\t0\n", "line 1: expected the header"),
        ("sequence\tlabel\nACGT\t1\nACGT\t1\tx\n", "line 3: expected 2 tab-separated columns"),
        ("sequence\tlabel\nACGT\t1\nACGT\n", "line 3: expected 2 tab-separated columns"),
        ("sequence\tlabel\nACGT\t1\nAC\t0\nACGT\tyes\n", "line 4: bad label 'yes'"),
        ("sequence\tlabel\nACGT\t1\nAC-T\t0\n", "line 3: invalid base '-'.*position 2"),
        ("sequence\tlabel\nACGT\t1\n\t0\n", "line 3: empty sequence"),
    ],
    ids=["empty", "header-only", "no-header", "3-columns", "1-column", "bad-label", "bad-base", "no-seq"],
)
def test_tsv_errors_name_file_and_line(tmp_path, text, pattern):
    path = write(tmp_path, text)
    with pytest.raises(SequenceError, match=pattern) as info:
        read_labeled_tsv(path)
    assert str(path) in str(info.value)


def test_tsv_float_labels_crlf_and_blank_lines(tmp_path):
    path = write(tmp_path, "sequence\tlabel\r\nacgtR\t0.5\r\n\r\nTTTT\t-1.25\r\n")
    data = read_labeled_tsv(path, label_type=float)
    assert data.sequences == ["acgtR", "TTTT"]
    assert data.labels.dtype == np.float64 and data.labels.tolist() == [0.5, -1.25]
    assert data.names == ["data.tsv:2", "data.tsv:4"]


def test_labeled_fasta(tmp_path):
    fasta = write(tmp_path, ">s1 first\nACGT\nAC\n>s2\nGGGG\n>s3\nttN\n", "seqs.fa")
    labels = write(tmp_path, "name\tlabel\ns3\t0\ns1\t1\ns2\t1\n", "labels.tsv")
    data = read_labeled_fasta(fasta, labels)
    assert data.names == ["s1", "s2", "s3"]
    assert data.sequences == ["ACGTAC", "GGGG", "ttN"]
    assert data.labels.tolist() == [1, 1, 0]


def test_labeled_fasta_mismatched_names_are_listed(tmp_path):
    fasta = write(tmp_path, ">s1\nACGT\n>s2\nGGGG\n>s3\nTT\n", "seqs.fa")
    labels = write(tmp_path, "s1\t1\ns4\t0\n", "labels.tsv")
    with pytest.raises(SequenceError) as info:
        read_labeled_fasta(fasta, labels)
    message = str(info.value)
    assert "records without a label" in message and "s2, s3" in message
    assert "labels without a record" in message and "s4" in message


def test_labeled_fasta_errors(tmp_path):
    labels = write(tmp_path, "s1\t1\n", "labels.tsv")
    bad_base = write(tmp_path, ">s1\nAC*T\n", "bad.fa")
    with pytest.raises(SequenceError, match="record 's1'.*position 2"):
        read_labeled_fasta(bad_base, labels)
    empty = write(tmp_path, "", "empty.fa")
    with pytest.raises(SequenceError, match="no FASTA records"):
        read_labeled_fasta(empty, labels)
    dup = write(tmp_path, ">s1\nAC\n>s1\nGG\n", "dup.fa")
    with pytest.raises(SequenceError, match="duplicate record names s1"):
        read_labeled_fasta(dup, labels)
    bad_label = write(tmp_path, "s1\tone\n", "labels2.tsv")
    with pytest.raises(SequenceError, match="labels2.tsv, line 1: bad label"):
        read_labeled_fasta(write(tmp_path, ">s1\nAC\n", "ok.fa"), bad_label)


@pytest.fixture
def data():
    return LabeledSequences(
        names=["short", "exact", "long"],
        sequences=["ACG", "ACGTA", "TTACGTAGG"],
        labels=np.array([0, 1, 1]),
    )


def test_dataset_pads_and_crops(data):
    dataset = LabeledSequenceDataset(data, length=5)
    assert len(dataset) == 3
    short, exact, long = dataset[0], dataset[1], dataset[2]
    assert short["tokens"].tolist() == [0, 1, 2, PAD, PAD]
    assert short["mask"].tolist() == [True, True, True, False, False]
    assert exact["tokens"].tolist() == encode("ACGTA").tolist() and exact["mask"].all()
    assert long["tokens"].tolist() == encode("ACGTA").tolist()  # centre crop of TTACGTAGG
    assert long["label"].dtype == torch.float32 and long["label"].shape == () and long["label"] == 1.0
    assert long["index"] == 2


def test_dataset_default_length_and_rc(data):
    dataset = LabeledSequenceDataset(data, rc_prob=1.0)
    assert dataset.length == 9
    item = dataset[0]
    assert item["tokens"].tolist() == reverse_complement(encode("ACG")).tolist() + [PAD] * 6
    assert item["mask"].sum() == 3


def test_dataset_batches(shared_data):
    data = read_labeled_tsv(shared_data / "promoters" / "prom_core_val.tsv")
    dataset = LabeledSequenceDataset(data, length=72, rc_prob=0.5, seed=3)
    batch = next(iter(DataLoader(dataset, batch_size=16)))
    assert batch["tokens"].shape == (16, 72) and batch["tokens"].dtype == torch.int64
    assert batch["mask"][:, :70].all() and not batch["mask"][:, 70:].any()
    assert batch["label"].dtype == torch.float32
    assert batch["label"].tolist() == data.labels[:16].tolist()
    forward = [
        torch.equal(batch["tokens"][i, :70], torch.from_numpy(encode(data.sequences[i])))
        for i in range(16)
    ]
    assert 0 < sum(forward) < 16  # some items were reverse-complemented
