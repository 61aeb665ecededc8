"""score_variants: LLR definitions checked by hand, symmetry, and the VCF/TSV writers."""

import logging
import math

import numpy as np
import pysam
import pytest
import torch

from genosparse.errors import FastaError, VariantError
from genosparse.genome import Genome
from genosparse.scoring.ism import ism, write_ism
from genosparse.scoring.scorers import mlm_log_likelihood
from genosparse.scoring.vep import annotate_vcf, score_variants
from genosparse.sequence.vocab import MASK, encode, reverse_complement
from variant_helpers import random_bases, vcf_rows, write_fasta, write_vcf

SEQ = random_bases(600, 7)
OPTS = dict(device="cpu", progress=False)


def _other(base: str) -> str:
    return "ACGT"[("ACGT".index(base) + 1) % 4]


def _scores(model, tmp_path, seq, rows, name="v", **kw):
    fasta = write_fasta(tmp_path / f"{name}.fa", {"s": seq})
    vcf = write_vcf(tmp_path / f"{name}.vcf.gz", rows)
    return list(score_variants(model, fasta, vcf, **OPTS, **kw))


def test_snv_and_mnv_llr_is_the_masked_marginal(model, tmp_path):
    alt = _other(SEQ[300])
    snv, mnv = _scores(model, tmp_path, SEQ, [f"s\t301\t.\t{SEQ[300]}\t{alt}\t.\t.\t.",
                                              f"s\t301\t.\t{SEQ[300:303]}\t{alt}{SEQ[301]}{_other(SEQ[302])}\t.\t.\t."])
    forward, = _scores(model, tmp_path, SEQ, [f"s\t301\t.\t{SEQ[300]}\t{alt}\t.\t.\t."], name="f", rc_average=False)
    tokens = torch.from_numpy(encode(SEQ[172:428]))  # window of 256 bases with 0-based 300 at index 128
    with torch.inference_mode():
        masked = tokens.clone()
        masked[128] = MASK
        logp = torch.log_softmax(model(masked[None]), -1)[0]
        rc_logp = torch.log_softmax(model(reverse_complement(masked)[None]), -1)[0]
        masked[130] = MASK
        logp2 = torch.log_softmax(model(masked[None]), -1)[0]
        rc_logp2 = torch.log_softmax(model(reverse_complement(masked)[None]), -1)[0]
    i, j = "ACGT".index(SEQ[300]), "ACGT".index(alt)
    fwd = (logp[128, j] - logp[128, i]).item()
    rev = (rc_logp[127, 3 - j] - rc_logp[127, 3 - i]).item()  # position 255 - 128, complement base
    assert forward.llr == pytest.approx(fwd, abs=1e-5) and snv.llr == pytest.approx((fwd + rev) / 2, abs=1e-5)
    assert snv.variant.kind == "SNV" and mnv.variant.kind == "MNV" and snv.flag == mnv.flag == ""
    k, m = "ACGT".index(SEQ[302]), "ACGT".index(_other(SEQ[302]))
    fwd2 = (logp2[128, j] - logp2[128, i] + logp2[130, m] - logp2[130, k]).item()
    rev2 = (rc_logp2[127, 3 - j] - rc_logp2[127, 3 - i] + rc_logp2[125, 3 - m] - rc_logp2[125, 3 - k]).item()
    expected = (fwd2 + rev2) / 2
    assert mnv.llr == pytest.approx(expected, abs=1e-5) and abs(mnv.llr) > 1e-4


def test_indel_llr_is_the_pseudo_log_likelihood_difference_over_the_focus(model, tmp_path):
    ins, = _scores(model, tmp_path, SEQ, [f"s\t300\t.\t{SEQ[299]}\t{SEQ[299]}GATTACA\t.\t.\t."], rc_average=False,
                   flank=16, num_passes=4)
    ref = torch.from_numpy(encode(SEQ[172:428]))[None]
    alt = torch.from_numpy(encode(SEQ[172:300] + "GATTACA" + SEQ[300:300 + 128 - 7]))[None]
    with torch.inference_mode():
        focus = slice(128 - 16, 128 + 7 + 16)
        expected = mlm_log_likelihood(model, alt, 4)[0, focus].sum() - mlm_log_likelihood(model, ref, 4)[0, focus].sum()
        hidden_ref, hidden_alt = model.embed(ref)[0, focus].mean(0), model.embed(alt)[0, focus].mean(0)
    assert ins.variant.kind == "insertion" and ins.llr == pytest.approx(expected.item(), abs=1e-4)
    assert ins.embedding_distance == pytest.approx(1 - torch.cosine_similarity(hidden_ref, hidden_alt, 0).item(),
                                                   abs=1e-5)


def test_ref_to_ref_is_zero_and_swapping_ref_and_alt_negates(model, tmp_path):
    x, y = SEQ[300], _other(SEQ[300])
    same, snv, ins = _scores(model, tmp_path, SEQ, [f"s\t301\t.\t{x}\t{x}\t.\t.\t.", f"s\t301\t.\t{x}\t{y}\t.\t.\t.",
                                                    f"s\t300\t.\t{SEQ[299]}\t{SEQ[299]}GATTACA\t.\t.\t."])
    assert same.variant.kind == "identical" and same.llr == 0.0 and same.embedding_distance < 1e-6
    swapped_snv, = _scores(model, tmp_path, SEQ[:300] + y + SEQ[301:], [f"s\t301\t.\t{y}\t{x}\t.\t.\t."], name="b")
    inserted = SEQ[:300] + "GATTACA" + SEQ[300:]
    deletion, = _scores(model, tmp_path, inserted, [f"s\t300\t.\t{SEQ[299]}GATTACA\t{SEQ[299]}\t.\t.\t."], name="c")
    assert abs(snv.llr) > 1e-3 and swapped_snv.llr == pytest.approx(-snv.llr, abs=1e-5)
    assert abs(ins.llr) > 1e-3 and deletion.llr == pytest.approx(-ins.llr, abs=1e-4)
    assert deletion.variant.kind == "deletion"
    assert deletion.embedding_distance == pytest.approx(ins.embedding_distance, abs=1e-5)


CASES = [  # (row, GS_KIND, GS_FLAG) of the constructed VCF (600-base contig, 256-base windows: s:101 and s:591
    # reach beyond the contig ends); the long deletion spans 200 bases > 256 / 2
    (f"s\t101\t.\t{SEQ[100]}\t<DEL>,{_other(SEQ[100])}\t.\t.\t.", ("symbolic", "SNV"), ("symbolic", "padded")),
    (f"s\t201\t.\t{SEQ[200]}\tG]17:198982]\t.\t.\t.", ("breakend",), ("breakend",)),
    (f"s\t301\t.\t{SEQ[300]}\t*,{_other(SEQ[300])}\t.\t.\t.", ("star", "SNV"), ("star", None)),
    (f"s\t311\t.\t{SEQ[310]}\t.\t.\t.\t.", None, None),
    (f"s\t321\trs9\t{_other(SEQ[320])}\t{_other(_other(SEQ[320]))}\t.\t.\t.", ("SNV",), ("ref_mismatch",)),
    (f"s\t351\t.\t{SEQ[350]}\t{SEQ[350]}\t.\t.\t.", ("identical",), (None,)),
    (f"s\t380\t.\t{SEQ[379:580]}\t{SEQ[379]}\t.\t.\t.", ("deletion",), ("longer_than_window",)),
    (f"s\t591\t.\t{SEQ[590]}\t{_other(SEQ[590])}\t.\t.\t.", ("SNV",), ("padded",)),
    ("chr7\t5\t.\tA\tG\t.\t.\t.", ("SNV",), ("contig_missing",)),
]


def test_vcf_output_keeps_every_record_in_order_with_documented_info(model, tmp_path, caplog):
    fasta = write_fasta(tmp_path / "ref.fa", {"s": SEQ})
    vcf = write_vcf(tmp_path / "in.vcf.gz", [row for row, _, _ in CASES], contigs={"s": 600, "chr7": 1000})
    out = tmp_path / "out" / "scored.vcf.gz"
    with caplog.at_level(logging.WARNING):
        counts = annotate_vcf(model, fasta, vcf, out, **OPTS)
    assert "chr7 (1 records)" in caplog.text
    assert counts == {"records": 9, "variants": 11, "scored": 4, "skipped": 0, "symbolic": 1, "breakend": 1,
                      "star": 1, "no_alt": 1, "ref_mismatch": 1, "longer_than_window": 1, "padded": 2,
                      "contig_missing": 1}
    assert sorted(p.name for p in out.parent.iterdir()) == ["scored.vcf.gz", "scored.vcf.gz.tbi"]
    with pysam.VariantFile(str(out)) as scored:
        for key in ("GS_LLR", "GS_EMB", "GS_KIND", "GS_FLAG"):
            assert scored.header.info[key].number == "A" and len(scored.header.info[key].description) > 40
        records = list(scored)
        assert [r.pos for r in scored.fetch("s", 0, 600)] == [101, 201, 301, 311, 321, 351, 380, 591]  # the index
    expected = [line.split("\t") for line, _, _ in CASES]
    assert [(r.chrom, r.pos, r.id or ".", r.ref, ",".join(r.alts or ".")) for r in records] == [
        (row[0], int(row[1]), row[2], row[3], row[4]) for row in expected]
    for record, (_, kinds, flags) in zip(records, CASES):
        if kinds is None:
            assert not any(key.startswith("GS_") for key in record.info)
            continue
        assert record.info["GS_KIND"] == kinds and record.info["GS_FLAG"] == tuple(f or "." for f in flags)
        for llr, emb, flag in zip(record.info["GS_LLR"], record.info["GS_EMB"], flags):
            assert (llr is None and emb is None) == (flag not in (None, "padded"))
    identical = records[5].info["GS_LLR"][0]
    assert identical == 0.0


def test_ref_mismatch_skip_and_fail_and_tsv(model, tmp_path):
    fasta = write_fasta(tmp_path / "ref.fa", {"s": SEQ})
    vcf = write_vcf(tmp_path / "in.vcf.gz", [row for row, _, _ in CASES[3:6]])
    counts = annotate_vcf(model, fasta, vcf, tmp_path / "skip.vcf.gz", ref_mismatch="skip", **OPTS)
    assert counts["records"] == 2 and counts["skipped"] == 1
    assert [r[1] for r in vcf_rows(tmp_path / "skip.vcf.gz")] == ["311", "351"]
    out = tmp_path / "failed"
    out.mkdir()
    with pytest.raises(VariantError, match=r"record 2 \(s:321 REF"):
        annotate_vcf(model, fasta, vcf, out / "x.vcf.gz", ref_mismatch="fail", **OPTS)
    assert list(out.iterdir()) == []
    annotate_vcf(model, fasta, vcf, tmp_path / "x.tsv", fmt="tsv", **OPTS)
    lines = [line.split("\t") for line in (tmp_path / "x.tsv").read_text().splitlines()]
    assert lines[0] == ["record", "chrom", "pos", "id", "ref", "alt", "kind", "llr", "embedding_distance", "flag"]
    assert [row[:7] + row[9:] for row in lines[1:]] == [
        ["1", "s", "311", ".", SEQ[310], ".", "no_alt", "no_alt"],
        ["2", "s", "321", "rs9", _other(SEQ[320]), _other(_other(SEQ[320])), "SNV", "ref_mismatch"],
        ["3", "s", "351", ".", SEQ[350], SEQ[350], "identical", "."]]
    assert lines[2][7] == "nan" and float(lines[3][7]) == 0.0


def test_empty_and_unsorted_vcfs(model, tmp_path, caplog):
    fasta = write_fasta(tmp_path / "ref.fa", {"s": SEQ})
    empty = write_vcf(tmp_path / "empty.vcf.gz", [])
    assert annotate_vcf(model, fasta, empty, tmp_path / "e.vcf.gz", **OPTS) == {"skipped": 0}
    with pysam.VariantFile(str(tmp_path / "e.vcf.gz")) as out:
        assert list(out) == [] and "GS_LLR" in out.header.info
    assert (tmp_path / "e.vcf.gz.tbi").is_file()
    annotate_vcf(model, fasta, empty, tmp_path / "e.tsv", fmt="tsv", **OPTS)
    assert (tmp_path / "e.tsv").read_text().count("\n") == 1
    unsorted = write_vcf(tmp_path / "u.vcf.gz", [f"s\t{p}\t.\t{SEQ[p - 1]}\t{_other(SEQ[p - 1])}\t.\t.\t."
                                                 for p in (300, 200, 400)])
    with caplog.at_level(logging.WARNING):
        annotate_vcf(model, fasta, unsorted, tmp_path / "u.out.vcf.gz", **OPTS)
    assert "not sorted" in caplog.text and not (tmp_path / "u.out.vcf.gz.tbi").exists()
    assert [r[1] for r in vcf_rows(tmp_path / "u.out.vcf.gz")] == ["300", "200", "400"]


def test_real_indel_call_set_annotated_end_to_end(model, shared_data, chr20, tmp_path):
    source = shared_data / "variants" / "5.vcf.gz"
    out = tmp_path / "5.scored.vcf.gz"
    counts = annotate_vcf(model, chr20, source, out, window=128, flank=8, rc_average=False, num_passes=2, **OPTS)
    assert counts == {"records": 977, "variants": 1020, "scored": 1020, "skipped": 0}
    original, scored = vcf_rows(source), vcf_rows(out)
    assert [r[:5] + r[6:7] for r in scored] == [r[:5] + r[6:7] for r in original]
    for new, old in zip(scored, original):
        keys = {kv.split("=")[0] for kv in new[7].split(";")}
        assert {kv.split("=")[0] for kv in old[7].split(";")} | {"GS_LLR", "GS_EMB", "GS_KIND", "GS_FLAG"} == keys
        assert new[8] == old[8] and new[9].split(":")[0] == old[9].split(":")[0]  # FORMAT and genotype kept
    with pysam.VariantFile(str(out)) as vcf:
        values = [v for r in vcf for v in r.info["GS_LLR"]]
    assert len(values) == 1020 and all(math.isfinite(v) for v in values) and len(set(values)) > 900


def test_ism_matrix_matches_snv_scores(model, tmp_path):
    fasta = write_fasta(tmp_path / "ref.fa", {"s": SEQ})
    result = ism(model, Genome(fasta), "s:296-305", batch_size=4, device="cpu", progress=False)
    assert result.scores.shape == result.alts.shape == (3, 10) and result.ref == SEQ[295:305]
    assert (result.start, result.end, result.contig) == (295, 305, "s")
    for j, base in enumerate(result.ref):
        assert list(result.alts[:, j]) == [b for b in "ACGT" if b != base]
    rows = [f"s\t{p + 1}\t.\t{SEQ[p]}\t{','.join(b for b in 'ACGT' if b != SEQ[p])}\t.\t.\t." for p in (295, 300, 304)]
    scores = _scores(model, tmp_path, SEQ, rows, name="snv")
    assert np.allclose([s.llr for s in scores], result.scores[:, [0, 5, 9]].T.ravel(), atol=1e-5)
    tsv, npz, png = write_ism(result, tmp_path / "ism" / "out")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with np.load(npz) as data:
        assert np.array_equal(data["scores"], result.scores) and str(data["contig"]) == "s"
    lines = tsv.read_text().splitlines()
    assert len(lines) == 31 and lines[1].split("\t")[:5] == ["s", "295", "296", SEQ[295], result.alts[0, 0]]
    for region, message in (("s:590-601", "ends past contig 's'"), ("s", "needs a region chrom:start-end")):
        with pytest.raises(FastaError, match=message):
            ism(model, Genome(fasta), region, device="cpu", progress=False)
