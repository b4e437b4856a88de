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
def generate_with_calculator(model: torch.nn.Module, prompt: str, encode: Callable[[str], list[int]],
                             decode: Callable[[list[int]], str], max_new_tokens: int = 64, call: str = "<calc>",
                             close: str = "</calc>", stop: str = ";") -> tuple[str, list[str]]:
    """Greedy generation after `prompt` that runs the calculator whenever the model writes `close`.

    The result's tokens are fed to the model as if it had written them, and decoding goes on after them (with
    the model's key/value cache when it has one, so each token costs one step). Returns the generated text
    (results included) and the calls made. A call the calculator refuses gets '?' as its result, so the answer
    is wrong rather than the loop crashing.
    """
    if not prompt:
        raise ValueError("the prompt is empty: give the question, e.g. '123+45='")
    device = next(model.parameters()).device
    caches = model.new_caches() if hasattr(model, "new_caches") else None
    ids, text, calls, pos = encode(prompt), "", [], 0
    was_training = model.training
    model.eval()
    try:
        pending = ids  # tokens the model has not read yet
        for _ in range(max_new_tokens):
            if caches is None:
                logits = model(torch.tensor([ids], device=device))[0, -1]
            else:
                logits = model(torch.tensor([pending], device=device), caches=caches, start=pos)[0, -1]
                pos += len(pending)
            token = int(logits.argmax())
            ids.append(token)
            pending = [token]
            text += decode([token])
            if text.endswith(stop):
                break
            if text.endswith(close) and call in text:
                expression = text[text.rindex(call) + len(call):-len(close)]
                calls.append(expression)
                try:
                    result = str(calculate(expression))
                except CalculatorError:
                    result = "?"
                try:
                    pending = pending + encode(result)
                except ValueError:  # e.g. a minus sign or '?' that the model's vocabulary lacks
                    break
                ids += pending[1:]
                text += result
    finally:
        model.train(was_training)
    return text, calls
