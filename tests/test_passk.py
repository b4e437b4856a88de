"""pass@k (Chen et al. 2021): the product form equals counting k-subsets, at every small n, c and k."""
import itertools
import math
from fractions import Fraction

import pytest

from genlib.text.passk import mean_pass_at_k, pass_at_k


def brute_force(n, c, k):
    """The share of k-subsets of n samples (the first c correct) holding at least one correct sample."""
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(i < c for i in s) for s in subsets) / len(subsets)


def test_matches_enumerating_every_k_subset():
    for n in range(1, 9):
        for c in range(n + 1):
            for k in range(1, n + 1):
                assert pass_at_k(n, c, k) == pytest.approx(brute_force(n, c, k), abs=1e-12), (n, c, k)


def test_edge_cases():
    for n in (1, 5, 200):
        assert pass_at_k(n, 0, 1) == 0.0 and pass_at_k(n, 0, n) == 0.0
        assert pass_at_k(n, n, 1) == 1.0 and pass_at_k(n, n, n) == 1.0
    for n, c in [(10, 3), (200, 17), (7, 6)]:
        assert pass_at_k(n, c, 1) == pytest.approx(c / n, abs=1e-12)


def test_large_n_is_stable_and_exact():
    n, c, k = 200, 13, 50  # C(200, 50) ~ 4.5e47: the product form never forms it
    exact = 1 - Fraction(math.comb(n - c, k), math.comb(n, k))
    assert pass_at_k(n, c, k) == pytest.approx(float(exact), rel=1e-12)
    values = [pass_at_k(n, c, k) for k in range(1, n + 1)]
    assert all(a <= b for a, b in zip(values, values[1:])) and values[-1] == 1.0  # more tries never hurt
    assert pass_at_k(n, c, 10) > 1 - (1 - c / n) ** 10  # the naive formula is biased low here


def test_mean_over_tasks():
    counts = [(10, 0), (10, 5), (10, 10)]
    assert mean_pass_at_k(counts, 1) == pytest.approx((0 + 0.5 + 1) / 3)
    assert mean_pass_at_k(counts, 2) == pytest.approx((0 + pass_at_k(10, 5, 2) + 1) / 3)


@pytest.mark.parametrize("n, c, k", [(5, 6, 1), (5, -1, 1), (5, 2, 0), (5, 2, 6), (0, 0, 1)])
def test_bad_counts_raise_value_error(n, c, k):
    with pytest.raises(ValueError, match="need"):
        pass_at_k(n, c, k)


def test_bad_types_and_empty_input_raise():
    with pytest.raises(TypeError, match="int"):
        pass_at_k(5.0, 2, 1)
    with pytest.raises(TypeError, match="bool"):
        pass_at_k(5, True, 1)
    with pytest.raises(ValueError, match="empty"):
        mean_pass_at_k([], 1)
    with pytest.raises(ValueError, match=r"counts\[1\]"):
        mean_pass_at_k([(5, 1), (5,)], 1)
