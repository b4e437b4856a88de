"""Byte-level BPE tokenizer (GPT-2's scheme, after Karpathy's minbpe): start from the 256 byte values, then
repeatedly merge the most frequent adjacent pair of tokens into a new token.

Text is first turned into UTF-8 bytes, so *any* string can be encoded: there is no unknown character. The
encoding uses Python's 'surrogatepass' error handler, so even the lone surrogates a Python str may hold
(for example from `bytes.decode(errors='surrogateescape')`) survive the round trip decode(encode(s)) == s.

Before counting pairs the text is cut into chunks by a regular expression (words, numbers, punctuation,
spaces, as GPT-2 does), and merges never cross a chunk boundary, so " dog" and " dog." share a token.
GPT-2's pattern needs the `regex` package for \\p{L} and \\p{N}; `GPT2_SPLIT_PATTERN` below is its
standard-library equivalent: letters are [^\\W\\d_], numbers \\d (decimal digits; the rare other numerals
such as '½' count as letters here).

Special tokens (such as "<|endoftext|>") are strings that always become one id of their own, the last ids
of the vocabulary. `encode(text)` turns every occurrence of a special string in `text` into its id;
`encode(text, allow_special=False)` treats them as ordinary characters (use that on untrusted text, so it
cannot inject an end-of-text). Training ignores special strings in the text.
"""
from __future__ import annotations

import heapq
import json
import operator
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Iterable, Sequence

from genlib.checkpoints import _atomic_write

GPT2_SPLIT_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+"""
ENDOFTEXT = "<|endoftext|>"


def to_bytes(text: str) -> bytes:
    """UTF-8 bytes of any Python str (lone surrogates included, via 'surrogatepass')."""
    return text.encode("utf-8", errors="surrogatepass")


def from_bytes(data: bytes, errors: str = "replace") -> str:
    """Text from bytes: exact for any bytes `to_bytes` made; other invalid UTF-8 (from sampled ids) uses `errors`."""
    try:
        return data.decode("utf-8", errors="surrogatepass")
    except UnicodeDecodeError:
        return data.decode("utf-8", errors=errors)


def pair_counts(ids: Sequence[int], counts: Counter | None = None, weight: int = 1) -> Counter:
    """How often each adjacent pair occurs in ids (added `weight` times into `counts` if given)."""
    counts = Counter() if counts is None else counts
    for pair in zip(ids, ids[1:]):
        counts[pair] += weight
    return counts


def merge(ids: Sequence[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace every occurrence of `pair` in ids, left to right, by `new_id`."""
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def merge_with_diff(ids: Sequence[int], pair: tuple[int, int], new_id: int) -> tuple[list[int], list, list]:
    """merge(ids, pair, new_id), plus the adjacent pairs that disappear and appear (only those next to a merge
    change, so training updates its pair counts without recounting the word)."""
    out, old_at, new_at, i = [], set(), set(), 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            old_at.update(p for p in (i - 1, i, i + 1) if 0 <= p < len(ids) - 1)  # pair positions in ids
            new_at.update(p for p in (len(out) - 1, len(out)) if p >= 0)          # pair positions in out
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    gone = [(ids[p], ids[p + 1]) for p in old_at]
    born = [(out[p], out[p + 1]) for p in new_at if p < len(out) - 1]
    return out, gone, born


def _check_text(text: object, what: str = "text") -> str:
    if not isinstance(text, str):
        hint = " (decode bytes first, e.g. data.decode('utf-8'))" if isinstance(text, (bytes, bytearray)) else ""
        raise TypeError(f"{what} must be a str, got {type(text).__name__}{hint}")
    return text


class BPETokenizer:
    """Byte-level BPE: `train(text, vocab_size)`, then `encode(text) -> ids` and `decode(ids) -> text`.

    `pattern=None` skips the pre-split: the whole text is one chunk (as in the textbook example), which is
    fine for short texts; training then rescans the whole text at each merge, so keep it to ~20k characters.
    """

    def __init__(self, pattern: str | None = GPT2_SPLIT_PATTERN, special_tokens: Sequence[str] = (ENDOFTEXT,)):
        if isinstance(special_tokens, str):
            raise TypeError("special_tokens must be a list of strings, e.g. ['<|endoftext|>'], not one string")
        bad = any(not isinstance(s, str) or not s for s in special_tokens)
        if bad or len(set(special_tokens)) != len(special_tokens):
            raise ValueError(f"special tokens must be distinct non-empty strings, got {list(special_tokens)}")
        self.pattern = pattern
        self._split = re.compile(pattern) if pattern else None
        self.specials = list(special_tokens)
        longest_first = sorted(self.specials, key=len, reverse=True)  # so '<|end|>' cannot cut '<|endoftext|>'
        self._special_re = re.compile("(" + "|".join(map(re.escape, longest_first)) + ")") if self.specials else None
        self.merges: dict[tuple[int, int], int] = {}  # (left id, right id) -> new id, in the order learned
        self._rebuild()

    # ---- the vocabulary -------------------------------------------------------------------------------------
    def _rebuild(self) -> None:
        """Byte strings of every token, and the ids of the special tokens (the last ids); clears the cache."""
        self.vocab: dict[int, bytes] = {i: bytes([i]) for i in range(256)}
        for (a, b), new_id in self.merges.items():  # dicts keep insertion order: parents come first
            self.vocab[new_id] = self.vocab[a] + self.vocab[b]
        first = 256 + len(self.merges)
        self.special_ids = {s: first + i for i, s in enumerate(self.specials)}
        self._cache: dict[str, list[int]] = {}

    @property
    def vocab_size(self) -> int:
        """Number of ids: 256 bytes + learned merges + special tokens."""
        return 256 + len(self.merges) + len(self.specials)

    def chunks(self, text: str) -> list[str]:
        """Cut ordinary text into the pieces merges may not cross (the whole text if there is no pattern)."""
        if self._split is None:
            return [text] if text else []
        pieces = self._split.findall(text)
        if sum(map(len, pieces)) != len(text):
            raise ValueError(f"the split pattern {self.pattern!r} skips some characters of the text, so they would "
                             "be lost; use a pattern whose alternatives match every character")
        return pieces

    def _ordinary_and_special(self, text: str, allow_special: bool) -> list[tuple[str, bool]]:
        """The text as (piece, is_special) in order; special strings split out only if allowed."""
        if not allow_special or self._special_re is None:
            return [(text, False)]
        parts = self._special_re.split(text)  # with a capturing group, odd positions are the separators
        return [(p, i % 2 == 1) for i, p in enumerate(parts) if p]

    # ---- training ------------------------------------------------------------------------------------------
    def train(self, text: str, vocab_size: int) -> "BPETokenizer":
        """Learn vocab_size - 256 - len(specials) merges from text; ties go to the smallest pair. Returns self."""
        _check_text(text)
        smallest = 256 + len(self.specials)
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < smallest:
            raise ValueError(f"vocab_size must be an int >= 256 (the byte values) + {len(self.specials)} special "
                             f"token(s) = {smallest}, got {vocab_size!r}")
        n_merges = vocab_size - smallest
        chunk_freq = Counter(c for piece, special in self._ordinary_and_special(text, True) if not special
                             for c in self.chunks(piece))
        words = [list(to_bytes(c)) for c in chunk_freq]  # each distinct chunk once, weighted by its frequency
        freqs = list(chunk_freq.values())
        stats, where = Counter(), defaultdict(set)  # pair -> weighted count; pair -> words that contain it
        for w, ids in enumerate(words):
            pair_counts(ids, stats, freqs[w])
            for pair in zip(ids, ids[1:]):
                where[pair].add(w)
        heap = [(-c, pair) for pair, c in stats.items()]  # most frequent first, then the smallest pair
        heapq.heapify(heap)
        self.merges = {}
        for new_id in range(256, 256 + n_merges):
            pair = self._pop_best(heap, stats)
            if pair is None:
                raise ValueError(f"the text ran out of pairs to merge after {len(self.merges)} merges (every chunk "
                                 f"is one token): train on more text or ask for vocab_size <= {self.vocab_size}")
            self.merges[pair] = new_id
            changed = set()
            for w in where.pop(pair):  # only the words that contain the pair change, and only around the pair
                words[w], gone, born = merge_with_diff(words[w], pair, new_id)
                for p in gone:
                    stats[p] -= freqs[w]
                for p in born:
                    stats[p] += freqs[w]
                    where[p].add(w)
                changed.update(gone, born)
            for p in changed:
                if stats[p] > 0:
                    heapq.heappush(heap, (-stats[p], p))
                else:
                    stats.pop(p, None)
        self._rebuild()
        return self

    @staticmethod
    def _pop_best(heap: list, stats: Counter) -> tuple[int, int] | None:
        """The most frequent pair now (lazy heap: entries whose count is out of date are skipped)."""
        while heap:
            neg, pair = heapq.heappop(heap)
            if stats.get(pair, 0) == -neg > 0:
                return pair
        return None

    def shrink(self, vocab_size: int) -> "BPETokenizer":
        """The tokenizer training would have given with a smaller vocab_size: the same first merges (BPE is greedy)."""
        n_merges = vocab_size - 256 - len(self.specials)
        if not 0 <= n_merges <= len(self.merges):
            raise ValueError(f"vocab_size must be between {256 + len(self.specials)} and {self.vocab_size}, "
                             f"got {vocab_size}")
        small = BPETokenizer(self.pattern, self.specials)
        small.merges = dict(list(self.merges.items())[:n_merges])
        small._rebuild()
        return small

    # ---- encoding and decoding ---------------------------------------------------------------------------------
    def _encode_chunk(self, chunk: str) -> list[int]:
        """Apply the learned merges to one chunk's bytes, earliest-learned first, as training did."""
        if chunk in self._cache:
            return self._cache[chunk]
        ids = list(to_bytes(chunk))
        while len(ids) >= 2:
            pair = min(zip(ids, ids[1:]), key=lambda p: self.merges.get(p, float("inf")))
            if pair not in self.merges:
                break  # no pair left that training merged
            ids = merge(ids, pair, self.merges[pair])
        self._cache[chunk] = ids
        return ids

    def encode(self, text: str, allow_special: bool = True) -> list[int]:
        """Text to ids. Special strings in text become their single id, unless allow_special=False."""
        _check_text(text)
        ids: list[int] = []
        for piece, special in self._ordinary_and_special(text, allow_special):
            if special:
                ids.append(self.special_ids[piece])
            else:
                for chunk in self.chunks(piece):
                    ids.extend(self._encode_chunk(chunk))
        return ids

    def token_bytes(self, i: int) -> bytes:
        """The bytes one id stands for (a special token's UTF-8)."""
        try:
            i = operator.index(i)  # ints, and numpy / torch integer scalars
        except TypeError:
            raise ValueError(f"token ids must be integers, got {i!r}") from None
        if not 0 <= i < self.vocab_size:
            raise ValueError(f"id {i!r} is not in the vocabulary 0..{self.vocab_size - 1}; was it made by a "
                             "tokenizer with a larger vocabulary?")
        if i in self.vocab:
            return self.vocab[i]
        return to_bytes(self.specials[i - 256 - len(self.merges)])

    def decode(self, ids: Iterable[int], errors: str = "replace") -> str:
        """Ids to text; exact for ids from encode. Byte runs that are not valid UTF-8 (possible in sampled ids)
        are handled by `errors` ('replace' puts U+FFFD, 'strict' raises)."""
        ids = ids.tolist() if hasattr(ids, "tolist") else list(ids)
        return from_bytes(b"".join(self.token_bytes(i) for i in ids), errors)

    def token_strings(self, ids: Iterable[int]) -> list[str]:
        """Each id on its own as text (a token that holds part of a character shows as U+FFFD), for display."""
        return [self.decode([i]) for i in (ids.tolist() if hasattr(ids, "tolist") else ids)]

    # ---- saving and loading ------------------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the pattern, special tokens and merges (in the order learned) as JSON, atomically."""
        text = json.dumps({"pattern": self.pattern, "specials": self.specials,
                           "merges": [[a, b] for a, b in self.merges]})
        _atomic_write(Path(path), lambda tmp: Path(tmp).write_text(text + "\n"))

    @classmethod
    def load(cls, path: str | Path) -> "BPETokenizer":
        """A tokenizer saved by `save`; the same ids for the same text as the one saved."""
        try:
            data = json.loads(Path(path).read_text())
            tok = cls(data["pattern"], data["specials"])
            tok.merges = {(a, b): 256 + i for i, (a, b) in enumerate(data["merges"])}
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{path} is not a tokenizer saved by BPETokenizer.save ({error}); retrain it with the "
                             "script that made it") from None
        tok._rebuild()
        return tok
