"""embed of BED intervals with names and strands on real chr20, and collect_embeddings (numpy, AnnData)."""

import anndata
import numpy as np
import pytest

import genosparse
from genosparse.cli.main import main
from genosparse.errors import ConfigError
from genosparse.genome import Genome
from genosparse.models import save_model
from genosparse.sequence import reverse_complement_str

OPTS = dict(device="cpu", progress=False)
BED = ("20\t30000000\t30000050\tfwd\t0\t+\n"
       "20\t30000000\t30000050\trev\t0\t-\n"
       "chr20\t30001000\t30001040\t.\t0\t.\n")


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_thread):
    """One intra-op thread (see the root conftest)."""


@pytest.fixture
def bed(tmp_path):
    path = tmp_path / "peaks.bed"
    path.write_text(BED)
    return path


def test_minus_intervals_are_the_reverse_complement_and_names_are_kept(tiny_mlm, chr20, bed, tmp_path):
    genome = Genome(chr20)
    emb = genosparse.collect_embeddings(genosparse.embed(tiny_mlm, genome, bed=bed, **OPTS))
    assert emb.names.tolist() == ["fwd", "rev", "20"] and emb.contigs.tolist() == ["20"] * 3
    assert emb.strands.tolist() == ["+", "-", "+"] and emb.flags.tolist() == ["", "", ""]
    assert emb.starts.tolist() == [30_000_000, 30_000_000, 30_001_000] and emb.ends.tolist()[-1] == 30_001_040
    assert emb.values.shape == (3, 16) and emb.values.dtype == np.float32
    seq = genome.fetch("20", 30_000_000, 30_000_050)
    direct = genosparse.collect_embeddings(genosparse.embed(
        tiny_mlm, sequences={"f": seq, "r": reverse_complement_str(seq)}, **OPTS))
    np.testing.assert_array_equal(emb.values[:2], direct.values)  # the same windows, the same batches
    assert not np.allclose(emb.values[0], emb.values[1])  # the strands differ

    tokens = genosparse.collect_embeddings(genosparse.embed(tiny_mlm, genome, bed=bed, pooled=False, **OPTS))
    assert tokens.values.shape == (3, 50, 16) and np.isnan(tokens.values[2, 40:]).all()
    with pytest.raises(ConfigError, match="pooled=True"):
        tokens.to_anndata()

    ckpt = save_model(tiny_mlm, tmp_path / "ckpt")
    main(["embed", "--checkpoint", str(ckpt), "--fasta", str(chr20), "--regions", str(bed),
          "--out", str(tmp_path / "o.npz"), "--device", "cpu", "--quiet"])
    npz = np.load(tmp_path / "o.npz")
    assert npz["names"].tolist() == ["fwd", "rev", "20"] and npz["strands"].tolist() == ["+", "-", "+"]
    assert npz["contigs"].tolist() == ["20"] * 3
    np.testing.assert_allclose(npz["embeddings"], emb.values, rtol=1e-5, atol=1e-6)


def test_anndata_has_the_matrix_and_the_coordinates(tiny_mlm, chr20, bed):
    emb = genosparse.collect_embeddings(genosparse.embed(tiny_mlm, chr20, bed=bed, **OPTS))
    adata = emb.to_anndata()
    assert isinstance(adata, anndata.AnnData) and adata.shape == (3, 16)
    np.testing.assert_array_equal(adata.X, emb.values)
    assert adata.obs["name"].tolist() == ["fwd", "rev", "20"] and adata.obs["chrom"].tolist() == ["20"] * 3
    assert adata.obs["start"].tolist() == [30_000_000, 30_000_000, 30_001_000]  # 0-based half-open
    assert adata.obs["end"].tolist() == [30_000_050, 30_000_050, 30_001_040]
    assert adata.obs["strand"].tolist() == ["+", "-", "+"]


def test_an_empty_stream_collects_to_empty_arrays():
    emb = genosparse.collect_embeddings([])
    assert emb.names.shape == (0,) and emb.starts.dtype == np.int64 and emb.values.shape == (0, 0)


def test_a_missing_anndata_is_one_line_naming_pip(tiny_mlm, monkeypatch):
    emb = genosparse.collect_embeddings(genosparse.embed(tiny_mlm, sequences=["ACGTAC"], **OPTS))
    monkeypatch.setitem(__import__("sys").modules, "anndata", None)  # import anndata raises ImportError
    with pytest.raises(ConfigError, match="pip install anndata"):
        emb.to_anndata()
