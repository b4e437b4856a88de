"""A calculator a language model can call: a safe evaluator of + - * / on integers, and generation that pauses
at `<calc>expr</calc>`, inserts the result, and goes on (the way tool use works in an assistant, small).

The evaluator walks the expression's syntax tree (`ast`) and accepts only integer literals and the four
operators; it never calls `eval`, so a model (or a user) cannot run code through it.
"""
from __future__ import annotations

import ast
import operator
from typing import Callable

import torch

OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.FloorDiv: operator.floordiv,
             ast.Div: operator.floordiv}  # integer division: the tool answers in whole numbers
MAX_DIGITS = 40  # the largest number the calculator takes or gives, so "9*9*9..." cannot eat the memory


class CalculatorError(ValueError):
    """The expression is not plain integer arithmetic (or divides by zero, or is too large)."""


def calculate(expression: str) -> int:
    """The value of an integer expression such as '123*45-6', by walking its syntax tree (never eval)."""
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        raise CalculatorError(f"cannot parse {expression!r}: write integers joined by + - * /") from None

    def value(node: ast.AST) -> int:
        if isinstance(node, ast.Constant) and type(node.value) is int:
            result = node.value
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            result = -value(node.operand)
        elif isinstance(node, ast.BinOp) and type(node.op) in OPERATORS:
            left, right = value(node.left), value(node.right)
            if isinstance(node.op, (ast.Div, ast.FloorDiv)) and right == 0:
                raise CalculatorError(f"division by zero in {expression!r}")
            result = OPERATORS[type(node.op)](left, right)
        else:
            raise CalculatorError(f"{expression!r} contains {type(node).__name__}: only integers and + - * / "
                                  "are allowed")
        if len(str(abs(result))) > MAX_DIGITS:
            raise CalculatorError(f"a number in {expression!r} has more than {MAX_DIGITS} digits")
        return result

    return value(tree.body)


@torch.no_grad()
def generate_with_calculator(model: torch.nn.Module, prompts: str | list[str], encode: Callable[[str], list[int]],
                             decode: Callable[[list[int]], str], max_new_tokens: int = 64, call: str = "<calc>",
                             close: str = "</calc>", stop: str = ";") -> tuple[str, list[str]] | list[tuple[str, list[str]]]:
    """Greedy generation after each prompt that runs the calculator whenever the model writes `close`.

    The result is then fed to the model one token per step in place of its own choice, as if it had written
    it, and decoding goes on after it. Every row moves one token per step, so a batch of prompts of equal
    token length stays rectangular and shares one key/value cache (when the model has `new_caches`).
    Returns (generated text with results, the calls made) for one prompt, or a list of them for a list. A call
    the calculator refuses gets '?' as its result, so the answer is wrong rather than the loop crashing.
    """
    single = isinstance(prompts, str)
    prompts = [prompts] if single else list(prompts)
    if not prompts or not all(prompts):
        raise ValueError("a prompt is empty: give the question, e.g. '123+45='")
    rows = [encode(p) for p in prompts]
    if len({len(r) for r in rows}) > 1:
        raise ValueError("the prompts encode to different lengths; generate each length as its own batch")
    stop_id = encode(stop)
    if len(stop_id) != 1:
        raise ValueError(f"the stop text {stop!r} must be a single token")
    device = next(model.parameters()).device
    ids = torch.tensor(rows, device=device)
    caches = model.new_caches() if hasattr(model, "new_caches") else None
    block_size = getattr(getattr(model, "config", None), "block_size", None)
    texts, calls, forced = [""] * len(rows), [[] for _ in rows], [[] for _ in rows]
    done = [False] * len(rows)
    was_training = model.training
    model.eval()
    try:
        logits = (model(ids, caches=caches, start=0) if caches is not None else model(ids))[:, -1]
        for _ in range(max_new_tokens):
            chosen = logits.argmax(-1).tolist()
            for b, token in enumerate(chosen):
                if done[b]:
                    chosen[b] = stop_id[0]  # a finished row is fed anything; its text no longer changes
                    continue
                if forced[b]:
                    token = chosen[b] = forced[b].pop(0)
                texts[b] += decode([token])
                if texts[b].endswith(stop):
                    done[b] = True
                elif texts[b].endswith(close) and call in texts[b]:
                    expression = texts[b][texts[b].rindex(call) + len(call):-len(close)]
                    calls[b].append(expression)
                    try:
                        result = str(calculate(expression))
                    except CalculatorError:
                        result = "?"
                    try:
                        forced[b] = encode(result)
                    except ValueError:  # a '?' or a minus sign the model's vocabulary lacks: the row ends here
                        texts[b] += result
                        done[b] = True
            if all(done) or (block_size is not None and ids.shape[1] >= block_size):
                break
            nxt = torch.tensor(chosen, device=device)[:, None]
            ids = torch.cat([ids, nxt], 1)
            logits = (model(nxt, caches=caches, start=ids.shape[1] - 1) if caches is not None else model(ids))[:, -1]
    finally:
        model.train(was_training)
    out = list(zip(texts, calls))
    return out[0] if single else out
