"""Scores unchanged: today's code against the outputs recorded before issue 13 (``golden/``).

The golden files were written by ``make_golden.py`` with the code of commit
``golden_cases.MADE_WITH`` (the shipped chr20-mlm on the CPU, 1,024-base windows, float32).
Here the same commands run with this checkout on a deterministic subset of each call set's
records (every ``k``-th of the golden records: scores do not depend on what a variant is batched
with) and on the same regions, and every value must agree within float32 noise.
"""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from genosparse.cli.main import main

sys.path.insert(0, str(Path(__file__).resolve().parent))
from golden_cases import GOLDEN, VEP_CASES, region_argvs, vep_argv  # noqa: E402

SUBSET = {"vep_20": 25, "vep_5": 20, "vep_16": 20, "vep_16_forward": 4, "vep_edge": 1}
"""Every k-th golden record is re-scored (all 12 of the edge case)."""


pytestmark = pytest.mark.usefixtures("one_thread")

def _rows(path: Path) -> list[dict[str, str]]:
    with open(path) as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def _close(got: str, want: str, atol: float, rtol: float) -> bool:
    a, b = float(got), float(want)
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= atol + rtol * abs(b)


@pytest.mark.parametrize("case", VEP_CASES, ids=lambda c: c.name)
def test_vep_scores_unchanged(case, shared_data, tmp_path, capsys):
    k = SUBSET[case.name]
    out = tmp_path / "new.tsv"
    main(vep_argv(case, shared_data, tmp_path, out, every=case.every * k))
    golden = [row for row in _rows(GOLDEN / f"{case.name}.tsv") if (int(row["record"]) - 1) % k == 0]
    new = _rows(out)
    assert len(new) == len(golden) > 0
    for got, want in zip(new, golden):
        assert [got[c] for c in ("chrom", "pos", "ref", "alt", "kind", "flag")] == \
            [want[c] for c in ("chrom", "pos", "ref", "alt", "kind", "flag")]
        assert _close(got["llr"], want["llr"], 2e-5, 1e-4), (got, want)
        # 1 - cos of near-identical vectors: float32 rounding of the cosine is ~1e-7 absolute
        assert _close(got["embedding_distance"], want["embedding_distance"], 5e-7, 1e-3), (got, want)
    if case.name == "vep_edge":  # the records at the contig's ends are scored (padded), the others flagged
        ends = [row for row in new if row["pos"] in ("1", "1995", "2000")]
        assert len(ends) == 4 and all(row["flag"] == "padded" and math.isfinite(float(row["llr"])) for row in ends)
        assert {"ref_mismatch", "symbolic", "star", "contig_missing"} <= {row["flag"] for row in new}


def test_region_scorers_unchanged(shared_data, tmp_path, capsys):
    """score, track, embed and ism of a short chr20 region: every value as recorded."""
    for name, argv in region_argvs(shared_data, tmp_path).items():
        main(argv)
        new, want = tmp_path / name, GOLDEN / name
        if name.endswith(".npz"):
            with np.load(new) as a, np.load(want) as b:
                assert sorted(set(a.files) - set(b.files)) == (["contigs", "strands"] if "names" in b.files else [])
                if "strands" in a.files:  # added by issue 15: region windows are on the forward strand
                    assert a["strands"].tolist() == ["+"] * len(b["names"]) and (a["contigs"] == b["names"]).all()
                for key in b.files:
                    if a[key].dtype.kind == "f":
                        np.testing.assert_allclose(a[key], b[key], atol=2e-5, rtol=1e-4, err_msg=f"{name} {key}")
                    else:
                        np.testing.assert_array_equal(a[key], b[key], err_msg=f"{name} {key}")
            continue
        got_lines, want_lines = new.read_text().splitlines(), want.read_text().splitlines()
        added = "\tchrom\tstrand" if name == "score.tsv" else ""  # columns added by issue 15 (BED rows)
        assert len(got_lines) == len(want_lines) and got_lines[0] == want_lines[0] + added
        for got, expected in zip(got_lines[1:], want_lines[1:]):
            *g_fields, g_value = got.split("\t")[:4] if name.endswith(".tsv") else got.split("\t")
            *w_fields, w_value = expected.split("\t")[:4] if name.endswith(".tsv") else expected.split("\t")
            assert g_fields == w_fields
            assert _close(g_value, w_value, 2e-5, 1e-4), (name, got, expected)
