import numpy as np
import pytest
import torch

from genosparse.errors import SequenceError
from genosparse.sequence import vocab
from genosparse.sequence.vocab import decode, encode, reverse_complement, reverse_complement_str


def test_token_ids_and_constants():
    assert (vocab.A, vocab.C, vocab.G, vocab.T, vocab.N) == (0, 1, 2, 3, 4)
    assert (vocab.PAD, vocab.MASK, vocab.CLS) == (5, 6, 7)
    assert vocab.VOCAB_SIZE == 8 and vocab.NUM_BASES == 4
    assert vocab.TOKENS == ("A", "C", "G", "T", "N", "[PAD]", "[MASK]", "[CLS]")


def test_encode_known_sequence():
    tokens = encode("ACGTNacgtn")
    assert tokens.dtype == np.int64 and tokens.shape == (10,)
    assert tokens.tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4]
    assert encode(b"GATTACA").tolist() == [2, 0, 3, 3, 0, 1, 0]
    assert encode("").shape == (0,)


def test_iupac_codes_encode_to_n():
    assert encode("RYSWKMBDHVryswkmbdhv").tolist() == [vocab.N] * 20


@pytest.mark.parametrize("bad", ["-", "*", ".", "0", " ", "\r", "U", "X", ">"])
def test_invalid_byte_names_position_and_byte(bad):
    with pytest.raises(SequenceError) as info:
        encode("ACGTAC" + bad + "GT", name="rec1")
    message = str(info.value)
    assert "position 6" in message and "'rec1'" in message
    assert repr(bad) in message and f"0x{ord(bad):02x}" in message


def test_non_ascii_is_an_error():
    with pytest.raises(SequenceError, match="position 2"):
        encode("ACé")


def test_decode_round_trip_and_specials():
    rng = np.random.default_rng(0)
    seq = "".join(rng.choice(list("ACGTN"), 1000))
    assert decode(encode(seq)) == seq
    assert decode(encode(seq.lower())) == seq
    assert decode(torch.tensor([7, 0, 6, 3, 5])) == "[CLS]A[MASK]T[PAD]"
    with pytest.raises(SequenceError):
        decode(np.array([0, 8]))
    with pytest.raises(SequenceError):
        decode(np.zeros((2, 3), dtype=np.int64))


def test_reverse_complement_of_known_string():
    assert decode(reverse_complement(encode("AACGTN"))) == "NACGTT"
    assert reverse_complement_str("AACGTN") == "NACGTT"
    assert reverse_complement_str("acgRYK") == "MRYcgt"
    with pytest.raises(SequenceError):
        reverse_complement_str("AC-GT")


def test_reverse_complement_keeps_specials():
    tokens = np.array([vocab.CLS, vocab.A, vocab.G, vocab.MASK, vocab.PAD])
    assert reverse_complement(tokens).tolist() == [vocab.PAD, vocab.MASK, vocab.C, vocab.T, vocab.CLS]


@pytest.mark.parametrize("dtype", [np.int64, np.int8, np.uint8, np.int32])
def test_reverse_complement_numpy_batch(dtype):
    rng = np.random.default_rng(1)
    tokens = rng.integers(0, vocab.VOCAB_SIZE, (3, 4, 257)).astype(dtype)
    once = reverse_complement(tokens)
    assert isinstance(once, np.ndarray) and once.dtype == dtype and once.shape == tokens.shape
    assert once.flags.c_contiguous
    assert np.array_equal(reverse_complement(once), tokens)
    for row, rc in zip(tokens.reshape(-1, 257), once.reshape(-1, 257)):
        bases = row[row < 5]
        assert decode(rc[rc < 5]) == reverse_complement_str(decode(bases))


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.uint8])
def test_reverse_complement_torch(dtype):
    tokens = torch.randint(0, vocab.VOCAB_SIZE, (2, 5, 33), generator=torch.Generator().manual_seed(0))
    tokens = tokens.to(dtype)
    once = reverse_complement(tokens)
    assert isinstance(once, torch.Tensor) and once.dtype == dtype and once.shape == tokens.shape
    assert torch.equal(reverse_complement(once), tokens)
    expected = reverse_complement(tokens.numpy())
    assert np.array_equal(once.numpy(), expected)


def test_reverse_complement_rejects_out_of_range_ids():
    with pytest.raises(SequenceError):
        reverse_complement(np.array([0, 9]))
    with pytest.raises(SequenceError):
        reverse_complement(torch.tensor([-1, 0]))
