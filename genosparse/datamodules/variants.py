"""Labelled variants as REF/ALT window pairs, for the supervised variant-effect task.

Label sources (one file per split):

- TSV with the header ``chrom<TAB>pos<TAB>ref<TAB>alt<TAB>label``: ``pos`` is 1-based as in
  a VCF, alleles as in a VCF (anchor base included for indels), one ALT per row, a numeric
  label (0/1 for binary tasks, any number for continuous ones).
- VCF/BCF with the label in an INFO field (``label_field``): one value per ALT (``Number=A``,
  or ``Number=.`` with as many values as ALTs) labels each ALT, a single value labels all
  ALTs of the record, a ``Flag`` gives 1 when present and 0 when absent.

Every variant goes through :mod:`genosparse.genome.vcf` and :mod:`genosparse.genome.alleles` (alias rule, REF check, kinds).
Variants that cannot be windowed (symbolic, breakend, ``*``, N alleles, alleles longer than
half the window) are left out with a logged count per reason; REF mismatches and contigs
missing from the FASTA are errors (``ref_mismatch="skip"`` leaves mismatching rows out).
"""

from __future__ import annotations

import logging
import math
import os
from collections import Counter
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from genosparse.errors import ConfigError, FastaError, VariantError
from genosparse.genome import Genome
from genosparse.genome.alleles import Variant, fits_window, make_variants, ref_matches, variant_windows
from genosparse.genome.vcf import open_vcf
from genosparse.sequence.vocab import reverse_complement

log = logging.getLogger(__name__)

TSV_HEADER = ["chrom", "pos", "ref", "alt", "label"]
RefMismatch = str  # "fail" or "skip"


class VariantEffectDataset(Dataset):
    """REF/ALT windows of labelled variants.

    Item ``i`` is a dict: ``ref`` and ``alt`` ``(window,)`` int64 tokens, ``focus``
    ``(window,)`` bool (the variant and ``flank`` bases either side), ``label`` float32
    scalar, ``index`` ``i``. With probability ``rc_prob`` (drawn from ``(seed, epoch, i)``) the
    pair is reverse-complemented together and ``focus`` mirrored.
    """

    def __init__(self, genome: Genome, variants: list[Variant], labels: np.ndarray, *, window: int, flank: int,
                 rc_prob: float = 0.0, seed: int = 0) -> None:
        if len(variants) != len(labels):
            raise ValueError(f"{len(variants)} variants but {len(labels)} labels")
        self.genome, self.variants, self.labels = genome, variants, np.asarray(labels, dtype=np.float32)
        self.window, self.flank, self.rc_prob, self.seed, self.epoch = window, flank, rc_prob, seed, 0

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation draws of ``epoch``."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.variants)

    def __getitem__(self, index: int) -> dict:
        w = variant_windows(self.genome, self.variants[index], self.window, self.flank)
        ref, alt = w.ref, w.alt
        focus = np.zeros(self.window, dtype=bool)
        focus[w.focus[0]:w.focus[1]] = True
        if np.random.default_rng((self.seed, self.epoch, index)).random() < self.rc_prob:
            ref, alt, focus = reverse_complement(ref), reverse_complement(alt), focus[::-1].copy()
        return {"ref": torch.from_numpy(ref), "alt": torch.from_numpy(alt), "focus": torch.from_numpy(focus),
                "label": torch.tensor(self.labels[index]), "index": index}


def read_labeled_variants(path: str | os.PathLike, genome: Genome, window: int, *, label_field: str | None = None,
                          ref_mismatch: RefMismatch = "fail") -> tuple[list[Variant], np.ndarray]:
    """Variants and float labels from a TSV (``.tsv``/``.txt``) or a VCF/BCF (see the module docstring).

    Args:
        window: window length in bases; variants longer than half of it are left out.

    Returns:
        ``(variants, labels)``: the windowable variants in file order and ``(n,)`` float64 labels.
    Raises:
        VariantError: malformed rows or records (naming file and 1-based line or CHROM:POS), a
            missing or non-numeric label, a contig missing from the FASTA, REF mismatches
            (with ``fail``), or no usable variant.
        ConfigError: a VCF without ``label_field``, an unknown ``ref_mismatch``.
    """
    path = Path(path)
    if ref_mismatch not in ("fail", "skip"):
        raise ConfigError(f"ref_mismatch must be 'fail' or 'skip' for training data, got {ref_mismatch!r}")
    if path.name.lower().endswith((".tsv", ".txt")):
        pairs = _from_tsv(path, genome, ref_mismatch)
    elif label_field is None:
        raise ConfigError(f"{path} is a VCF: set label_field to the INFO field holding the labels "
                          "(or give a TSV chrom, pos, ref, alt, label)")
    else:
        pairs = _from_vcf(path, genome, label_field, ref_mismatch)
    dropped = Counter(v.flag or "longer_than_window" for v, _ in pairs if v.flag or not fits_window(v, window))
    kept = [(v, y) for v, y in pairs if not v.flag and fits_window(v, window)]
    if dropped:
        log.warning("%s: left out %d variants that cannot be windowed: %s", path, sum(dropped.values()),
                    ", ".join(f"{k} {n}" for k, n in dropped.items()))
    if not kept:
        raise VariantError(f"{path} holds no variant that can be scored (of {len(pairs)}); check the file")
    return [v for v, _ in kept], np.array([y for _, y in kept], dtype=np.float64)


def _from_tsv(path: Path, genome: Genome, ref_mismatch: RefMismatch) -> list[tuple[Variant, float]]:
    pairs, skipped = [], 0
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise VariantError(f"cannot read {path}: {err}") from err
    if not lines or lines[0].strip().split("\t") != TSV_HEADER:
        raise VariantError(f"{path}, line 1: expected the header {'<TAB>'.join(TSV_HEADER)}; add or fix it")
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t")
        where = f"{path}, line {lineno}"
        if len(fields) != 5 or not fields[1].strip().isdigit() or int(fields[1]) < 1:
            raise VariantError(f"{where}: expected chrom, a 1-based pos, ref, alt, label separated by tabs; "
                               f"got {line!r}")
        chrom, pos, ref, alt, label = (f.strip() for f in fields)
        contig = _contig(genome, chrom, where)
        start = int(pos) - 1
        if not ref_matches(genome, contig, start, ref):
            if ref_mismatch == "fail":
                raise VariantError(f"{where}: REF {ref} at {chrom}:{pos} differs from {genome.path}; check the "
                                   "build, or set ref_mismatch=skip")
            skipped += 1
            continue
        variant, = make_variants(lineno - 2, chrom, contig, start, ref, (alt,))
        pairs.append((variant, _number(label, where)))
    if skipped:
        log.warning("%s: skipped %d rows whose REF differs from %s", path, skipped, genome.path)
    return pairs


def _from_vcf(path: Path, genome: Genome, field: str, ref_mismatch: RefMismatch) -> list[tuple[Variant, float]]:
    pairs = []
    with open_vcf(path, genome, strict_contigs=True) as source:
        if field not in source.header.info:
            raise VariantError(f"{path} has no INFO/{field} in its header; set label_field to one of "
                               f"{', '.join(list(source.header.info)[:20])}")
        meta = source.header.info[field]
        for record, variants in source.variants(ref_mismatch):
            where = f"{path}, record {variants[0].record_index + 1} ({record.chrom}:{record.pos})"
            if meta.type == "Flag":
                values = [float(field in record.info)] * len(variants)
            elif field not in record.info:
                raise VariantError(f"{where}: no INFO/{field} label; add it or drop the record")
            else:
                value = record.info[field]
                value = value if isinstance(value, tuple) else (value,)
                if len(value) == 1:
                    value *= len(variants)
                elif len(value) != len(variants):
                    raise VariantError(f"{where}: INFO/{field} has {len(value)} values for {len(variants)} ALT "
                                       "alleles; a label needs one value per ALT or one for the record")
                values = [_number(str(v), where) for v in value]
            pairs += list(zip(variants, values))
    return pairs


def _contig(genome: Genome, chrom: str, where: str) -> str:
    try:
        return genome.resolve(chrom)
    except FastaError as err:
        raise VariantError(f"{where}: {err}") from None


def _number(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise VariantError(f"{where}: label {text!r} is not a finite number")
    return value


class VariantDataModule(L.LightningDataModule):
    """Train / validation (/ test) sets of labelled variants as REF/ALT window pairs.

    Files are read in :meth:`setup` (so a config instantiates without them).

    Args:
        fasta: reference FASTA (plain or BGZF) of the variants' build.
        train, val: TSV or VCF/BCF files (see the module docstring).
        test: optional TSV or VCF/BCF.
        label_field: INFO field holding the label, for VCF/BCF files.
        window_size: window length in bases (= the model's context length).
        flank: bases either side of the variant in the pooled focus.
        ref_mismatch: ``fail`` (default) or ``skip`` rows whose REF differs from the FASTA.
        rc_prob: training augmentation, probability of reverse complementing a pair.
        batch_size, num_workers: DataLoader settings.
        seed: seeds the augmentation.
    """

    def __init__(self, fasta: str, train: str, val: str, test: str | None = None, label_field: str | None = None,
                 window_size: int = 4096, flank: int = 64, ref_mismatch: RefMismatch = "fail", rc_prob: float = 0.5,
                 batch_size: int = 16, num_workers: int = 0, seed: int = 0) -> None:
        super().__init__()
        self.fasta = os.fspath(fasta)
        self.paths = {"train": train, "val": val, "test": test}
        self.label_field, self.window_size, self.flank = label_field, window_size, flank
        self.ref_mismatch = ref_mismatch
        self.rc_prob, self.batch_size, self.num_workers, self.seed = rc_prob, batch_size, num_workers, seed
        self.sets: dict[str, VariantEffectDataset] = {}

    def setup(self, stage: str | None = None) -> None:
        genome = Genome(self.fasta)
        for split, path in self.paths.items():
            if path is None or split in self.sets:
                continue
            variants, labels = read_labeled_variants(path, genome, self.window_size, label_field=self.label_field,
                                                     ref_mismatch=self.ref_mismatch)
            log.info("%s split: %d variants from %s", split, len(variants), path)
            self.sets[split] = VariantEffectDataset(genome, variants, labels, window=self.window_size,
                                                    flank=self.flank, rc_prob=self.rc_prob if split == "train" else 0.0,
                                                    seed=self.seed)

    def _loader(self, split: str, shuffle: bool = False) -> DataLoader:
        return DataLoader(self.sets[split], batch_size=self.batch_size, shuffle=shuffle, num_workers=self.num_workers)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test" if "test" in self.sets else "val")
