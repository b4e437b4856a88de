"""pass@k: the chance that at least one of k samples passes the tests, estimated without bias from n >= k samples.

Chen et al. 2021 (the Codex paper, "Evaluating Large Language Models Trained on Code"): draw n samples per task,
count the c that pass, and estimate pass@k = 1 - C(n-c, k) / C(n, k), the chance that a random k-subset of the n
holds at least one passing sample. Taking k samples and checking them directly is noisier; 1 - (1 - c/n)^k is
biased. The binomials overflow floats for large n, so we use the paper's product form
C(n-c, k) / C(n, k) = prod_{i=n-c+1}^{n} (1 - k/i).
"""
from __future__ import annotations

import operator


def _as_int(name: str, value) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got the bool {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int (a count of samples), got {type(value).__name__} {value!r}") from None


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one task: n samples drawn, c of them correct, k the budget of tries."""
    n, c, k = _as_int("n", n), _as_int("c", c), _as_int("k", k)
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n (c correct out of n samples), got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n (pass@k needs at least k samples per task), got n={n}, k={k}; "
                         f"draw more samples or use a smaller k")
    if n - c < k:  # every k-subset holds a correct sample
        return 1.0
    fail = 1.0
    for i in range(n - c + 1, n + 1):
        fail *= 1.0 - k / i
    return 1.0 - fail


def mean_pass_at_k(counts: list[tuple[int, int]], k: int) -> float:
    """pass@k over a benchmark: the mean over tasks of pass_at_k(n, c, k), counts holding one (n, c) per task."""
    counts = list(counts)
    if not counts:
        raise ValueError("counts is empty: give one (n, c) pair per task, n samples drawn and c of them correct")
    total = 0.0
    for i, pair in enumerate(counts):
        try:
            n, c = pair
        except (TypeError, ValueError):
            raise ValueError(f"counts[{i}] must be an (n, c) pair, got {pair!r}") from None
        total += pass_at_k(n, c, k)
    return total / len(counts)
