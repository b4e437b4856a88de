import random
from collections import Counter

import pytest

from genlib.data import shakespeare_splits
from genlib.text.bpe import ENDOFTEXT, BPETokenizer, merge, merge_with_diff

TRAIN = ("The quick brown fox jumps over the lazy dog. It's 2024; naïve café owners can't stop—really! "
         "日本語のテキストも少し。Emoji: 😀👍🏽 and 👨‍👩‍👧. ") * 20


@pytest.fixture(scope="module")
def tok():
    return BPETokenizer().train(TRAIN, 350)


@pytest.fixture(scope="module")
def shakespeare_tok():
    train, _ = shakespeare_splits()
    return BPETokenizer().train(train[:50_000], 400)


def random_strings(seed: int, n: int = 150) -> list[str]:
    """Arbitrary text: any code point (surrogates too), emoji with modifiers and joiners, combining marks, CJK,
    odd whitespace, fragments of the special token, and random bytes read back with surrogateescape."""
    rng = random.Random(seed)
    pools = ["😀", "👍🏽", "👨\u200d👩\u200d👧", "🇫🇷", "e\u0301", "\u0915\u094d\u0937", "漢字", "한국어", "\t", "\r\n",
             "\u00a0", "\u2028", "\u3000", "  ", "<|", "endoftext", "|>", "'s", "'ll", "123", "½", "_", "\x00",
             "\ufeff"]
    out = []
    for _ in range(n):
        kind = rng.random()
        if kind < 0.3:  # uniformly random code points, anywhere in Unicode
            s = "".join(chr(rng.randrange(0x110000)) for _ in range(rng.randrange(1, 20)))
        elif kind < 0.5:  # random bytes, as Python reads an undecodable file name
            s = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 30))).decode("utf-8", errors="surrogateescape")
        else:  # a mix of the hard cases and ordinary words
            s = "".join(rng.choice(pools + ["the", " fox", "Dog", " "]) for _ in range(rng.randrange(1, 15)))
        out.append(s)
    return out


def reference_merges(text: str, tok: BPETokenizer, n_merges: int) -> dict:
    """The merges by the plain, slow algorithm: recount every pair over every chunk of the text each time."""
    words = [list(c.encode("utf-8")) for c in tok.chunks(text)]
    merges = {}
    for new_id in range(256, 256 + n_merges):
        stats = Counter(p for w in words for p in zip(w, w[1:]))
        pair = max(stats, key=lambda p: (stats[p], -p[0], -p[1]))  # most frequent, ties to the smallest pair
        merges[pair] = new_id
        words = [merge(w, pair, new_id) for w in words]
    return merges


def test_classic_example_learns_the_known_merges_and_ids():
    # Wikipedia's example: aaabdaaabac -> ZabdZabac (Z=aa) -> ZYdZYac (Y=ab) -> XdXac (X=ZY)
    tok = BPETokenizer(pattern=None, special_tokens=()).train("aaabdaaabac", 259)
    a, b, c, d = map(ord, "abcd")
    assert tok.merges == {(a, a): 256, (a, b): 257, (256, 257): 258}
    assert tok.encode("aaabdaaabac") == [258, d, 258, a, c]
    assert tok.vocab[258] == b"aaab" and tok.vocab_size == 259


def test_fast_training_equals_the_slow_reference_algorithm():
    train, _ = shakespeare_splits()
    text = train[:5000]
    tok = BPETokenizer().train(text, 256 + 1 + 80)
    assert tok.merges == reference_merges(text, tok, 80)


def test_fast_training_equals_the_reference_on_one_long_chunk_with_runs():
    rng = random.Random(0)  # long runs such as "aaaa" make merges overlap and sit next to each other
    text = "".join(rng.choice(["a", "aa", "aaa", "b", "ab", "ba", "c", " "]) for _ in range(600))
    tok = BPETokenizer(pattern=None, special_tokens=()).train(text, 256 + 40)
    assert tok.merges == reference_merges(text, tok, 40)
    assert tok.decode(tok.encode(text)) == text


def test_merge_with_diff_reports_exactly_the_pairs_that_change():
    rng = random.Random(1)
    for _ in range(300):
        ids = [rng.choice([1, 2, 3]) for _ in range(rng.randrange(0, 12))]
        pair = (rng.choice([1, 2]), rng.choice([1, 2]))
        new, gone, born = merge_with_diff(ids, pair, 9)
        assert new == merge(ids, pair, 9)
        delta = Counter(zip(new, new[1:]))
        delta.subtract(Counter(zip(ids, ids[1:])))
        want = Counter(born)
        want.subtract(Counter(gone))
        assert +delta == +want and -delta == -want, (ids, pair)


def test_encode_equals_applying_every_merge_in_learned_order(shakespeare_tok):
    _, val = shakespeare_splits()
    for chunk in shakespeare_tok.chunks(val[:3000]):
        ids = list(chunk.encode("utf-8"))
        for pair, new_id in shakespeare_tok.merges.items():
            ids = merge(ids, pair, new_id)
        assert shakespeare_tok.encode(chunk) == ids


@pytest.mark.parametrize("seed", range(4))
def test_round_trip_is_exact_on_arbitrary_unseen_text(tok, shakespeare_tok, seed):
    for s in random_strings(seed):
        for t in (tok, shakespeare_tok, BPETokenizer(pattern=None)):
            ids = t.encode(s)
            assert t.decode(ids) == s, repr(s)
            assert all(0 <= i < t.vocab_size for i in ids)
            assert t.decode(t.encode(s, allow_special=False)) == s


def test_merges_compress_and_never_cross_chunks(shakespeare_tok):
    _, val = shakespeare_splits()
    text = val[:5000]
    ids = shakespeare_tok.encode(text)
    assert len(ids) < 0.65 * len(text.encode("utf-8"))  # 400 tokens already save over a third of the bytes
    for i in ids:  # with the GPT-2 split, a token is never two words: no token holds a letter, then a space
        piece = shakespeare_tok.vocab[i].decode("utf-8", errors="replace")
        assert " " not in piece.lstrip(" ") or piece.strip() == ""


def test_shrink_equals_training_a_smaller_vocabulary(shakespeare_tok):
    train, _ = shakespeare_splits()
    small = BPETokenizer().train(train[:50_000], 300)
    assert shakespeare_tok.shrink(300).merges == small.merges
    assert shakespeare_tok.shrink(300).encode("To be, or not to be") == small.encode("To be, or not to be")


def test_special_tokens_are_single_ids_and_never_split(tok):
    eot = tok.special_ids[ENDOFTEXT]
    assert eot == tok.vocab_size - 1  # the last id, as GPT-2's 50256
    ids = tok.encode(f"fox{ENDOFTEXT}dog{ENDOFTEXT}")
    assert ids.count(eot) == 2 and ids[-1] == eot
    assert tok.decode(ids[:ids.index(eot)]) == "fox"
    plain = tok.encode(f"fox{ENDOFTEXT}", allow_special=False)  # untrusted text: no special ids come out
    assert eot not in plain and tok.decode(plain) == f"fox{ENDOFTEXT}"
    both = BPETokenizer(special_tokens=["<|end", ENDOFTEXT]).train(TRAIN, 300)  # one special is a prefix of the other
    assert both.encode(f"a{ENDOFTEXT}<|end") == [ord("a"), both.special_ids[ENDOFTEXT], both.special_ids["<|end"]]


def test_training_ignores_special_strings_in_the_text():
    text = ("hello there, general kenobi" + ENDOFTEXT) * 30
    tok = BPETokenizer().train(text, 270)
    learned = [tok.vocab[i] for i in range(256, 256 + len(tok.merges))]
    assert not any(b"<|" in v or b"endof" in v or b"|>" in v for v in learned)


def test_decode_of_partial_characters_and_unknown_ids(tok):
    assert tok.decode([0xE2, 0x82]) == "\ufffd"  # half of '€': invalid UTF-8 on its own
    with pytest.raises(UnicodeDecodeError):
        tok.decode([0xE2, 0x82], errors="strict")
    assert tok.decode([0xE2, 0x82, 0xAC]) == "€"
    for bad in ([tok.vocab_size], [-1], [1.5]):
        with pytest.raises(ValueError, match="vocabulary|integers"):
            tok.decode(bad)


def test_bad_input_raises_clear_errors():
    with pytest.raises(ValueError, match="vocab_size must be an int >= 256"):
        BPETokenizer(special_tokens=()).train(TRAIN, 255)
    with pytest.raises(ValueError, match="257"):
        BPETokenizer().train(TRAIN, 256)  # room for the bytes, none for <|endoftext|>
    with pytest.raises(ValueError, match="vocab_size"):
        BPETokenizer().train(TRAIN, 300.0)
    with pytest.raises(TypeError, match="decode bytes first"):
        BPETokenizer().encode(b"bytes")
    with pytest.raises(TypeError, match="must be a str"):
        BPETokenizer().train(["a", "list"], 300)
    with pytest.raises(ValueError, match="ran out of pairs"):
        BPETokenizer().train("ab ab ab", 300)
    with pytest.raises(ValueError, match="skips some characters"):
        BPETokenizer(pattern=r"[a-z]+").encode("hello world")
    with pytest.raises(TypeError, match="list of strings"):
        BPETokenizer(special_tokens=ENDOFTEXT)
    assert BPETokenizer().train(TRAIN, 257).merges == {}  # exactly the bytes + the special token


def test_save_and_load_give_the_same_ids(tmp_path):
    text = "def f(x):\n    return x + 1\n\nclass A:\n    pass\n" * 20
    tok = BPETokenizer().train(text, 275)
    tok.save(tmp_path / "tok.json")
    again = BPETokenizer.load(tmp_path / "tok.json")
    sample = "def g(y):\n    return y + 2  # <|endoftext|>"
    assert again.merges == tok.merges and again.encode(sample) == tok.encode(sample)
    assert again.decode(again.encode(sample)) == sample
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not a tokenizer saved by BPETokenizer.save"):
        BPETokenizer.load(tmp_path / "bad.json")
