import logging
import pickle

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from genosparse.datamodules import GenomeWindowDataModule
from genosparse.errors import ConfigError, FastaError
from genosparse.genome import Genome
from genosparse.sequence.vocab import encode, reverse_complement
from genosparse.sequence.windows import GenomeWindowDataset, Window, tile_windows

CHR20_LENGTH = 63_025_520


@pytest.fixture(scope="module")
def chr20(shared_data, tmp_path_factory):
    return Genome(shared_data / "reference" / "20.fa.gz", cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.fixture
def small(tmp_path):
    """'a': 25 random bases; 'chrB': 30 bases of which 10..20 are N; 'c': 5 bases."""
    rng = np.random.default_rng(3)
    a = "".join(rng.choice(list("ACGT"), 25))
    b = "ACGTACGTAC" + "N" * 10 + "GGGGGCCCCC"
    path = tmp_path / "small.fa"
    path.write_text(f">a\n{a}\n>chrB\n{b}\n>c\nACGTA\n")
    return Genome(path), {"a": a, "chrB": b}


def test_window_length():
    assert len(Window("20", 100, 350)) == 250


def test_tiling_chr20_covers_and_skips_all_n(chr20, caplog):
    size = 1_000_000
    with caplog.at_level(logging.INFO, logger="genosparse.sequence.windows"):
        result = tile_windows(chr20, window_size=size, contigs=["chr20"])
    expected_starts = list(range(0, CHR20_LENGTH - size + 1, size)) + [CHR20_LENGTH - size]
    all_n = [s for s in expected_starts if set(chr20.fetch("20", s, s + size)) == {"N"}]
    assert len(all_n) >= 2  # the 3.1 Mb centromere gap holds at least two whole windows
    assert result.num_all_n_skipped == len(all_n)
    assert [w.start for w in result.windows] == [s for s in expected_starts if s not in all_n]
    assert all(w.contig == "20" and len(w) == size for w in result.windows)
    assert result.windows[0].start == 0 and result.windows[-1].end == CHR20_LENGTH
    assert f"skipped {len(all_n)} all-N" in caplog.text


def test_tiling_small_genome(small, caplog):
    genome, _ = small
    with caplog.at_level(logging.INFO, logger="genosparse.sequence.windows"):
        result = tile_windows(genome, window_size=10)
    assert [(w.contig, w.start) for w in result.windows] == [
        ("a", 0), ("a", 10), ("a", 15), ("chrB", 0), ("chrB", 20),
    ]
    assert result.num_all_n_skipped == 1 and result.short_contigs == ["c"]
    assert "shorter than the 10-base window: c" in caplog.text

    overlapping = tile_windows(genome, window_size=10, stride=4, contigs=["chra"], skip_all_n=False)
    assert [w.start for w in overlapping.windows] == [0, 4, 8, 12, 15]
    kept_n = tile_windows(genome, window_size=10, contigs=["B"], skip_all_n=False)
    assert [w.start for w in kept_n.windows] == [0, 10, 20] and kept_n.num_all_n_skipped == 0


def test_tiling_rejects_unknown_contig_and_bad_sizes(small):
    genome, _ = small
    with pytest.raises(FastaError, match="'zz'"):
        tile_windows(genome, window_size=10, contigs=["a", "zz"])
    with pytest.raises(ValueError):
        tile_windows(genome, window_size=0)


def test_dataset_without_augmentation_returns_windows(small):
    genome, seqs = small
    windows = [Window("a", 0, 10), Window("chrB", 15, 25), Window("a", 15, 25)]
    dataset = GenomeWindowDataset(genome, windows)
    assert len(dataset) == 3
    for i, w in enumerate(windows):
        item = dataset[i]
        assert item["index"] == i and item["tokens"].dtype == torch.int64
        assert item["tokens"].tolist() == encode(seqs[w.contig][w.start : w.end]).tolist()


def test_dataset_augmentation_is_seeded_and_valid(small):
    genome, seqs = small
    windows = [Window("a", 0, 10), Window("a", 5, 15), Window("a", 15, 25)]
    dataset = GenomeWindowDataset(genome, windows, max_shift=3, rc_prob=0.5, seed=7)
    padded = "NNN" + seqs["a"] + "NNN"
    seen_rc, seen_shifts = set(), set()
    for epoch in range(6):
        dataset.set_epoch(epoch)
        for i, w in enumerate(windows):
            tokens = dataset[i]["tokens"]
            assert torch.equal(tokens, dataset[i]["tokens"])  # deterministic
            matches = []
            for shift in range(-3, 4):
                expected = torch.from_numpy(encode(padded[w.start + shift + 3 : w.end + shift + 3]))
                matches += [(shift, False)] if torch.equal(tokens, expected) else []
                matches += [(shift, True)] if torch.equal(tokens, reverse_complement(expected)) else []
            assert matches, (epoch, i)
            seen_shifts.update(s for s, _ in matches)
            seen_rc.update(rc for _, rc in matches)
    assert seen_rc == {False, True} and len(seen_shifts) > 3

    again = GenomeWindowDataset(genome, windows, max_shift=3, rc_prob=0.5, seed=7)
    again.set_epoch(5)
    assert all(torch.equal(again[i]["tokens"], dataset[i]["tokens"]) for i in range(3))
    other = GenomeWindowDataset(genome, windows, max_shift=3, rc_prob=0.5, seed=8)
    other.set_epoch(5)
    assert not all(torch.equal(other[i]["tokens"], dataset[i]["tokens"]) for i in range(3))


def test_dataset_always_rc(small):
    genome, seqs = small
    dataset = GenomeWindowDataset(genome, [Window("chrB", 2, 12)], rc_prob=1.0)
    assert dataset[0]["tokens"].tolist() == reverse_complement(encode(seqs["chrB"][2:12])).tolist()


def test_dataset_rejects_out_of_range_windows(small):
    genome, _ = small
    with pytest.raises(FastaError, match="outside the contig"):
        GenomeWindowDataset(genome, [Window("a", 20, 30)])
    with pytest.raises(IndexError):
        GenomeWindowDataset(genome, [Window("a", 0, 10)])[1]


def test_dataset_pickles_after_use(chr20):
    windows = [Window("20", 30_000_000, 30_004_096), Window("chr20", 10_000, 14_096)]
    dataset = GenomeWindowDataset(chr20, windows, max_shift=100, rc_prob=0.5)
    items = [dataset[i]["tokens"] for i in range(2)]
    copy = pickle.loads(pickle.dumps(dataset))
    assert all(torch.equal(copy[i]["tokens"], items[i]) for i in range(2))


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_dataloader_with_two_workers(chr20, context):
    windows = [Window("20", 20_000_000 + 8_192 * k, 20_008_192 + 8_192 * k) for k in range(8)]
    dataset = GenomeWindowDataset(chr20, windows, max_shift=512, rc_prob=0.5, seed=1)
    dataset.set_epoch(2)
    loader = DataLoader(dataset, batch_size=2, num_workers=2, multiprocessing_context=context)
    batches = list(loader)
    tokens = torch.cat([b["tokens"] for b in batches])
    assert tokens.shape == (8, 8_192)
    assert torch.cat([b["index"] for b in batches]).tolist() == list(range(8))
    assert all(torch.equal(tokens[i], dataset[i]["tokens"]) for i in range(8))


@pytest.mark.parametrize("max_shift", [0, 300_000])
def test_datamodule_holds_out_the_contig_tail_even_when_shifted(shared_data, max_shift):
    """Validation windows are chr20's last 5%; no training window, shifted by up to max_shift
    bases, reaches them."""
    data = GenomeWindowDataModule(str(shared_data / "reference" / "20.fa.gz"), window_size=1_000_000,
                                  val_fraction=0.05, max_shift=max_shift)
    data.setup("fit")
    train, val = data.train_set.windows, data.val_set.windows
    assert len(val) == 3 and all(w.contig == "20" for w in train + val)
    val_start = min(w.start for w in val)
    assert max(w.end for w in train) + max_shift <= val_start
    dropped = 1 if max_shift else 0  # the last training window abuts the tail
    assert max(w.end for w in train) == val_start - dropped * 1_000_000
    for item in (data.train_set[i] for i in range(len(train))):
        assert item["tokens"].shape == (1_000_000,)


def test_datamodule_shift_errors_name_the_option(shared_data):
    fasta = str(shared_data / "reference" / "20.fa.gz")
    with pytest.raises(ConfigError, match="data.max_shift >= 0"):
        GenomeWindowDataModule(fasta, window_size=1_000_000, max_shift=-1)
    with pytest.raises(ConfigError, match="data.val_fraction"):
        GenomeWindowDataModule(fasta, window_size=1_000_000, val_fraction=1.0)
    data = GenomeWindowDataModule(fasta, window_size=1_000_000, max_shift=100_000_000)
    with pytest.raises(ConfigError, match="max_shift=100000000 drops all 59 training windows"):
        data.setup("fit")
