"""Contigs, coordinates and regions as the Python API takes them: ints, tuples, Intervals, strings."""

import numpy as np
import pytest

from genosparse.errors import ArgumentError, FastaError
from genosparse.genome import Genome
from genosparse.genome.regions import Interval, parse_region, region_list


@pytest.fixture(scope="module")
def genome(chr20):
    return Genome(chr20)


def test_integer_contig_is_its_decimal_name(genome):
    expected = genome.fetch("20", 30_000_000, 30_000_060)  # as zcat gives it, newlines removed
    assert expected == "AAATAAGGCTTGGAAATTTTCTGGAGTTCTATTATATTCCAACTCTCTGGTTCCTGGTGC"
    assert genome.fetch(20, 30_000_000, 30_000_060) == expected
    assert genome.fetch(np.int64(20), np.int64(30_000_000), np.int32(30_000_060)) == expected
    assert genome.length(20) == 63_025_520 and genome.resolve(20) == "20"
    assert (genome.fetch_tokens(20, 0, 5) == genome.fetch_tokens("chr20", 0, 5)).all()


@pytest.mark.parametrize("contig", [20.0, None, True, b"20"])
def test_other_contig_types_are_refused_by_name(genome, contig):
    with pytest.raises(ArgumentError, match="contig name must be a string") as err:
        genome.fetch(contig, 0, 10)
    assert isinstance(err.value, TypeError)


def test_non_integer_coordinates_are_refused(genome):
    with pytest.raises(ArgumentError, match=r"start and end must be integers \(0-based"):
        genome.fetch("20", "30000000", 30_000_060)
    with pytest.raises(ArgumentError):
        genome.fetch("20", 1.5, 10)


def test_parse_region_forms():
    assert parse_region("chr20:1,000,001-1,000,100") == ("chr20", 1_000_000, 1_000_100)  # 1-based inclusive
    assert parse_region(("chr20", 1_000_000, 1_000_100)) == ("chr20", 1_000_000, 1_000_100)  # 0-based
    assert parse_region((20, np.int64(5), 10)) == ("20", 5, 10)
    assert parse_region(Interval("20", 5, 10)) == ("20", 5, 10)
    assert parse_region(20) == ("20", None, None)
    with pytest.raises(ArgumentError, match=r"\(chrom, start, end\)"):
        parse_region(("20", "5", "10"))
    with pytest.raises(ArgumentError):
        parse_region(("20", 5))
    with pytest.raises(FastaError, match="0 <= start <= end"):
        parse_region(("20", 10, 5))
    with pytest.raises(ArgumentError, match="contig name"):
        parse_region(3.5)


def test_region_list_tells_one_region_from_several():
    assert region_list(None) is None
    assert region_list("20:1-10") == ["20:1-10"]
    assert region_list(("20", 0, 10)) == [("20", 0, 10)]
    assert region_list(("20:1-10", "20:21-30", "20:41-50")) == ["20:1-10", "20:21-30", "20:41-50"]
    assert region_list([("20", 0, 10), "20:21-30"]) == [("20", 0, 10), "20:21-30"]
    assert region_list(Interval("20", 0, 10)) == [Interval("20", 0, 10)]
    with pytest.raises(ArgumentError, match="regions must be"):
        region_list(3.5)
