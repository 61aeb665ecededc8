import pytest

from genosparse.errors import FastaError
from genosparse.genome import contig_aliases, resolve_contig


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("chr20", ["chr20", "20"]),
        ("20", ["20", "chr20"]),
        ("chrX", ["chrX", "X"]),
        ("X", ["X", "chrX"]),
        ("chrM", ["chrM", "MT", "M", "chrMT"]),
        ("MT", ["MT", "chrM", "M", "chrMT"]),
        ("M", ["M", "chrM", "MT", "chrMT"]),
        ("chrMT", ["chrMT", "chrM", "MT", "M"]),
        ("chr", ["chr"]),
    ],
)
def test_contig_aliases(name, expected):
    assert contig_aliases(name) == expected


@pytest.mark.parametrize(
    ("name", "available", "expected"),
    [
        ("chr20", ["1", "20", "X"], "20"),
        ("20", ["chr1", "chr20"], "chr20"),
        ("chrM", ["1", "MT"], "MT"),
        ("MT", ["chr1", "chrM"], "chrM"),
        ("M", ["chrMT"], "chrMT"),
        ("20", ["20", "chr20"], "20"),  # exact match wins
    ],
)
def test_resolve_contig(name, available, expected):
    assert resolve_contig(name, available, "/x/ref.fa") == expected


def test_unknown_contig_lists_close_names():
    with pytest.raises(FastaError) as info:
        resolve_contig("chr2O", ["chr1", "chr2", "chr20", "chrX"], "/x/ref.fa")
    message = str(info.value)
    assert "'chr2O'" in message and "/x/ref.fa" in message
    assert "chr20" in message and "chr2" in message
    assert "Check the reference build" in message


def test_unknown_contig_without_close_names_lists_available():
    with pytest.raises(FastaError, match=r"available \(2\): 1, 2"):
        resolve_contig("scaffold_99", ["1", "2"], "/x/ref.fa")


def test_ambiguous_alias_is_an_error():
    with pytest.raises(FastaError, match="ambiguous"):
        resolve_contig("M", ["chrM", "MT"], "/x/ref.fa")
