"""Notebook 09's arithmetic formats, the safe calculator and the generation loop that calls it."""
import random

import pytest
import torch

from genlib.data import arithmetic as ar
from genlib.data import tasks
from genlib.text.calculator import CalculatorError, calculate, generate_with_calculator
from genlib.text.gpt import GPT
from genlib.text.reasoning import CONFIG, held_out_problems, solve


@pytest.mark.parametrize("a,op,b", [(1234, "+", 5678), (99999, "+", 1), (7, "+", 0), (1234, "*", 7), (99999, "*", 9)])
def test_scratchpad_columns_add_up_to_the_answer(a, op, b):
    p = ar.Problem(a, op, b)
    steps = ar.column_steps(p)
    digits = [s.split("=")[1] for s in steps]
    # the last column's two digits, then every other column's units digit, read left to right, is the answer
    written = digits[-1].lstrip("0") + "".join(d[1] for d in reversed(digits[:-1]))
    assert int(written or "0") == p.answer
    text = p.question + ar.solution(p, "scratchpad")
    assert ar.read_answer(ar.solution(p, "scratchpad")) == p.answer and text.endswith(f"|{p.answer};")


def test_formats_read_back_and_unknown_format_is_an_error():
    p = ar.Problem(1234, "+", 5678)
    assert ar.solution(p, "direct") == "6912;"
    assert ar.solution(p, "tool") == "<calc>1234+5678</calc>6912;"
    for fmt in ar.FORMATS:
        assert ar.read_answer(ar.solution(p, fmt)) == 6912
    assert ar.read_answer("12a;") is None
    with pytest.raises(ValueError, match="format must be one of"):
        ar.solution(p, "essay")


def test_tool_mask_leaves_the_calculator_result_untrained():
    p = ar.Problem(12, "+", 34)
    ids, mask = ar.example(p, "tool")
    text = ar.decode(ids)
    trained = "".join(c for c, m in zip(text, mask) if m)
    assert trained == "<calc>12+34</calc>;"          # the model writes the call and the end, never the result
    assert not any(mask[:len(p.question)])          # nor the question


def test_held_out_problems_never_reach_training():
    rng = random.Random(0)
    for _ in range(300):
        p = ar.make_problem(rng, 3, rng.choice(ar.OPS), "train")
        assert not ar.is_held_out(p.a, p.op, p.b)
    tests = held_out_problems(3, "+", n=50)
    assert all(ar.is_held_out(p.a, p.op, p.b) and len(str(p.a)) == 3 for p in tests)
    assert ar.is_held_out(1, "+", 2) == tasks._held_out("1+2", ar.HELD_OUT)  # one hash for the whole course
    share = sum(ar.is_held_out(a, "+", 7) for a in range(10_000)) / 10_000
    assert abs(share - ar.HELD_OUT) < 0.02


def test_batches_hold_equal_tokens_so_formats_compare_fairly():
    counts = {}
    for fmt in ar.FORMATS:
        ids, mask = ar.batch(random.Random(0), fmt, 2048, 5)
        assert ids.shape == mask.shape and ids.dtype == torch.long
        assert (mask[ids == ar.PAD] == 0).all()
        tokens = int((ids != ar.PAD).sum()) - ids.shape[0]   # predicted positions: all but each row's first
        assert 2048 <= tokens < 2048 + 120
        counts[fmt] = ids.shape[0]
    assert counts["direct"] > 3 * counts["scratchpad"]        # the scratchpad pays for its steps in problems


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="not in the arithmetic vocabulary"):
        ar.encode("12-3=")
    with pytest.raises(ValueError, match="split must be"):
        ar.make_problem(random.Random(0), 3, "+", "dev")
    with pytest.raises(ValueError, match="op must be"):
        ar.make_problem(random.Random(0), 3, "-")
    with pytest.raises(ValueError, match="tokens and max_digits"):
        ar.batch(random.Random(0), "direct", 0, 5)


def test_calculator_computes_and_never_runs_code():
    assert calculate("123*45-6") == 5529
    assert calculate(" 7/2 ") == 3 and calculate("-3+1") == -2
    for bad in ["__import__('os').system('true')", "2**10", "1.5+1", "x+1", "(lambda: 1)()", "'a'*3"]:
        with pytest.raises(CalculatorError):
            calculate(bad)
    with pytest.raises(CalculatorError, match="division by zero"):
        calculate("1/0")
    with pytest.raises(CalculatorError, match="digits"):
        calculate("9" * 30 + "*" + "9" * 30)


class Scripted(torch.nn.Module):
    """A 'model' that writes a fixed text after a 6-character prompt, whatever it reads: it tests the loop."""

    def __init__(self, text: str):
        super().__init__()
        self.text, self.weight = text, torch.nn.Parameter(torch.zeros(1))

    def forward(self, idx):
        written = idx.shape[1] - 6          # no new_caches(): the loop passes the whole sequence each step
        logits = torch.zeros(idx.shape[0], idx.shape[1], ar.PAD + 1)
        logits[:, -1, ar.STOI[self.text[min(written, len(self.text) - 1)]]] = 1
        return logits


def test_generation_pauses_inserts_the_result_and_goes_on():
    model = Scripted("<calc>12+34</calc>99;")           # it would write 99; the loop inserts 46 in its place
    assert generate_with_calculator(model, "12+34=", ar.encode, ar.decode) == ("<calc>12+34</calc>46;", ["12+34"])
    both = generate_with_calculator(model, ["12+34=", "99+99="], ar.encode, ar.decode)  # a batch, row by row
    assert both == [("<calc>12+34</calc>46;", ["12+34"])] * 2
    refused = Scripted("<calc>12/0</calc>5;")           # division by zero: '?' is not in this vocabulary, so stop
    assert generate_with_calculator(refused, "12+34=", ar.encode, ar.decode) == ("<calc>12/0</calc>?", ["12/0"])
    with pytest.raises(ValueError, match="prompt is empty"):
        generate_with_calculator(model, "", ar.encode, ar.decode)
    with pytest.raises(ValueError, match="different lengths"):
        generate_with_calculator(model, ["1+2=", "12+3="], ar.encode, ar.decode)


def test_cached_calculator_generation_equals_recomputing_the_prefix():
    torch.manual_seed(0)
    model = GPT(CONFIG).eval()

    class NoCache(torch.nn.Module):   # the same GPT without new_caches(): the loop recomputes the whole prefix
        def __init__(self):
            super().__init__()
            self.gpt = model

        def forward(self, idx):
            return self.gpt(idx)

    prompts = ["12+34=", "99+17=", "5*7+1="]
    with_cache = generate_with_calculator(model, prompts, ar.encode, ar.decode, max_new_tokens=30)
    without = generate_with_calculator(NoCache(), prompts, ar.encode, ar.decode, max_new_tokens=30)
    alone = [generate_with_calculator(model, p, ar.encode, ar.decode, max_new_tokens=30) for p in prompts]
    assert with_cache == without == alone


@pytest.mark.parametrize("fmt", ["scratchpad", "tool"])
def test_solve_decodes_batches_like_one_at_a_time(fmt):
    torch.manual_seed(1)
    model = GPT(CONFIG).eval()
    problems = held_out_problems(2, "+", n=3) + held_out_problems(3, "*", n=2)
    together = solve(model, problems, fmt)
    alone = [solve(model, [p], fmt)[0] for p in problems]
    assert together == alone
