"""read_bed keeps the name (column 4) and strand (column 6) of real chr20 intervals and refuses bad strands."""

import pytest

from genosparse.errors import ArgumentError, SequenceError
from genosparse.genome import Genome
from genosparse.genome.bed import BedInterval, read_bed
from genosparse.genome.regions import Interval


def test_names_and_strands_are_kept(chr20, tmp_path):
    bed = tmp_path / "r.bed"
    bed.write_text("# comment\nchr20\t30000000\t30000050\tpeak one\t0\t-\n"  # tab-separated: a name with a blank
                   "20\t30000100\t30000120\n"
                   "20 30000200 30000230 p3 5 .\n"
                   "20\t30000300\t30000310\t.\t0\t+\textra\n")
    got = read_bed(bed, Genome(chr20))
    assert got == [BedInterval("20", 30_000_000, 30_000_050, "peak one", "-"),
                   BedInterval("20", 30_000_100, 30_000_120, "20", "+"),
                   BedInterval("20", 30_000_200, 30_000_230, "p3", "+"),
                   BedInterval("20", 30_000_300, 30_000_310, "20", "+")]
    assert isinstance(got[0], Interval) and len(got[0]) == 50 and str(got[0]) == "20:30,000,001-30,000,050"


def test_a_bad_strand_names_file_and_line(chr20, tmp_path):
    bed = tmp_path / "bad.bed"
    bed.write_text("20\t100000\t100010\ta\t0\t+\n20\t100020\t100030\tb\t0\tminus\n")
    with pytest.raises(SequenceError, match=r"bad.bed line 2: strand \(column 6\) must be \+, - or \., got 'minus'"):
        read_bed(bed, Genome(chr20))
    with pytest.raises(ArgumentError, match=r"bed must be a BED path .* got 5 \(int\)"):
        read_bed(5, Genome(chr20))
