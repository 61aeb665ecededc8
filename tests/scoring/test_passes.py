"""Planned passes: what each variant costs, and that shared passes are run once."""

from __future__ import annotations

import pytest
import torch

from genosparse.attention import AttentionConfig
from genosparse.genome import Genome
from genosparse.genome.alleles import make_variants, variant_windows
from genosparse.genome.vcf import open_vcf
from genosparse.models import GenomicModel, ModelConfig
from genosparse.scoring import vep
from genosparse.scoring.effects import plan_variant, variant_scores
from genosparse.scoring.passes import PassPlan
from genosparse.scoring.prepare import prepare

pytestmark = pytest.mark.usefixtures("one_thread")
WINDOW = 256
SITE = 30_000_500  # 0-based chr20 position


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return GenomicModel(ModelConfig(head="mlm", d_model=16, num_layers=2, num_heads=2, context_length=WINDOW,
                                    dropout=0.0, attention=AttentionConfig(block_size=16, backend="torch"))).eval()


def _plan(genome, variants, **kw) -> tuple[PassPlan, list]:
    plan = PassPlan(WINDOW)
    readouts = [plan_variant(plan, v, variant_windows(genome, v, WINDOW, 16), **kw) for v in variants]
    return plan, readouts


def test_the_alts_of_a_position_share_their_masked_and_ref_passes(chr20):
    genome = Genome(chr20)
    ref = genome.fetch("20", SITE, SITE + 1)
    alts = tuple(b for b in "ACGT" if b != ref)
    one_record = make_variants(0, "20", "20", SITE, ref, alts)
    three_records = [v for k, alt in enumerate(alts) for v in make_variants(k, "20", "20", SITE, ref, (alt,))]
    for variants in (one_record, three_records):
        # masked REF x 2 strands, unmasked REF x 2, each ALT x 2 (6 per SNV before)
        assert _plan(genome, variants, rc_average=True, num_passes=8, embedding=True)[0].num_passes == 10
        assert _plan(genome, variants, rc_average=True, num_passes=8, embedding=False)[0].num_passes == 2
        assert _plan(genome, variants, rc_average=False, num_passes=8, embedding=False)[0].num_passes == 1
    other = make_variants(3, "20", "20", SITE + 1, genome.fetch("20", SITE + 1, SITE + 2), ("A", "C"))
    plan, _ = _plan(genome, [*one_record, *other], rc_average=True, num_passes=8, embedding=False)
    assert plan.num_passes == 4  # another position: its own windows
    deletion = make_variants(4, "20", "20", SITE, genome.fetch("20", SITE, SITE + 3), (ref,))
    plan, _ = _plan(genome, deletion, rc_average=True, num_passes=3, embedding=False)
    assert plan.num_passes == 2 * 2 * 3  # REF and ALT windows, both strands, 3 masking phases


def test_batch_size_and_plan_sharing_do_not_change_scores(model, chr20):
    genome = Genome(chr20)
    ready = prepare(model, genome, device="cpu")
    ref = genome.fetch("20", SITE, SITE + 1)
    variants = make_variants(0, "20", "20", SITE, ref, tuple(b for b in "ACGT" if b != ref)) + \
        make_variants(1, "20", "20", SITE + 7, genome.fetch("20", SITE + 7, SITE + 9), ("T",))
    together = _plan(genome, variants, rc_average=True, num_passes=4, embedding=True)
    results = together[0].run(ready, batch_size=3)
    for v, shared in zip(variants, together[1]):
        alone = _plan(genome, [v], rc_average=True, num_passes=4, embedding=True)
        expected = variant_scores(alone[0].run(ready, batch_size=1), alone[1][0])
        assert variant_scores(results, shared) == pytest.approx(expected, abs=1e-6)


def test_chunks_stay_bounded_and_keep_a_position_together(monkeypatch, chr20, tmp_path):
    genome = Genome(chr20)
    ref = genome.fetch("20", SITE, SITE + 1)
    rows = [f"20\t{SITE + 1}\t.\t{ref}\t{alt}\t.\t.\t." for alt in "ACGT" if alt != ref]
    rows += [f"chrUn\t{i + 1}\t.\tA\tG\t.\t.\t." for i in range(50)]
    vcf = tmp_path / "x.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n" + "\n".join(rows) + "\n")
    monkeypatch.setattr(vep, "CHUNK", 1)
    monkeypatch.setattr(vep, "CHUNK_RECORDS", 8)
    with open_vcf(vcf, genome) as source:
        chunks = list(vep._chunks(source, "flag", window=WINDOW, flank=16, rc_average=True, num_passes=8,
                                  embedding=True, batch_size=1))
    assert [len(c.records) for c in chunks][:2] == [3, 8] and max(len(c.records) for c in chunks) == 8
    assert sum(len(c.records) for c in chunks) == 53 and len(chunks[0].readouts) == 3
