"""Small function-completion tasks for notebook 10: a signature and docstring to complete, hidden tests, a reference.

Like HumanEval (Chen et al. 2021) but tiny: a model sees `prompt` (the `def` line and its docstring) and writes
the body; `prompt + body` then runs with `tests` (plain asserts) in `genlib.text.sandbox.run_tests`. `reference`
is one correct body, indented as it goes under the prompt, so `prompt + reference` passes its tests. The tasks
go from one-liners a small model trained on the standard library might manage (`return a + b`) to loops over
lists, strings and dicts. Every task's tests fail for a body that returns None.
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass


@dataclass(frozen=True)
class CodeTask:
    name: str       # the function's name
    prompt: str     # 'def name(args):\n    """What it does."""\n', what the model sees
    tests: str      # hidden assert statements that call the function
    reference: str  # a correct body, indented by 4 spaces, ending in a newline


def _task(signature: str, doc: str, reference: str, tests: str) -> CodeTask:
    body = textwrap.indent(textwrap.dedent(reference).strip("\n") + "\n", "    ")
    return CodeTask(name=signature.split("(")[0], prompt=f'def {signature}:\n    """{doc}"""\n',
                    tests=textwrap.dedent(tests).strip("\n") + "\n", reference=body)


_TASKS = [
    # one line of arithmetic or logic
    _task("add(a, b)", "Return the sum of a and b.", "return a + b",
          "assert add(2, 3) == 5\nassert add(-4, 4) == 0\nassert add(10, -3) == 7"),
    _task("square(x)", "Return x multiplied by itself.", "return x * x",
          "assert square(3) == 9\nassert square(-4) == 16\nassert square(0) == 0"),
    _task("is_even(n)", "Return True if n is even.", "return n % 2 == 0",
          "assert is_even(4) is True\nassert is_even(7) is False\nassert is_even(0) is True"),
    _task("max_of_two(a, b)", "Return the larger of a and b.", "return a if a > b else b",
          "assert max_of_two(3, 8) == 8\nassert max_of_two(9, 2) == 9\nassert max_of_two(-1, -5) == -1"),
    _task("absolute(x)", "Return the absolute value of x.", "return x if x >= 0 else -x",
          "assert absolute(-5) == 5\nassert absolute(3) == 3\nassert absolute(0) == 0"),
    _task("clamp(x, low, high)", "Return x limited to the range from low to high.", "return max(low, min(x, high))",
          "assert clamp(5, 0, 10) == 5\nassert clamp(-3, 0, 10) == 0\nassert clamp(42, 0, 10) == 10"),
    _task("is_empty(items)", "Return True if the list is empty.", "return len(items) == 0",
          "assert is_empty([]) is True\nassert is_empty([1]) is False"),
    _task("first(items)", "Return the first element of the list, or None if it is empty.",
          "return items[0] if items else None",
          "assert first([3, 1, 2]) == 3\nassert first(['a']) == 'a'\nassert first([]) is None"),
    _task("last(items)", "Return the last element of the list.", "return items[-1]",
          "assert last([3, 1, 2]) == 2\nassert last(['x', 'y']) == 'y'"),
    # strings
    _task("reverse_string(s)", "Return the string s backwards.", "return s[::-1]",
          "assert reverse_string('abc') == 'cba'\nassert reverse_string('') == ''\nassert reverse_string('a') == 'a'"),
    _task("is_palindrome(s)", "Return True if s reads the same forwards and backwards.", "return s == s[::-1]",
          "assert is_palindrome('level') is True\nassert is_palindrome('python') is False\n"
          "assert is_palindrome('') is True"),
    _task("count_vowels(s)", "Return how many vowels (a, e, i, o, u, either case) are in s.",
          "return sum(1 for ch in s.lower() if ch in 'aeiou')",
          "assert count_vowels('hello') == 2\nassert count_vowels('AEIOU xyz') == 5\nassert count_vowels('') == 0"),
    _task("count_char(s, ch)", "Return how many times the character ch appears in s.", "return s.count(ch)",
          "assert count_char('banana', 'a') == 3\nassert count_char('banana', 'z') == 0"),
    _task("capitalize_words(s)", "Return s with the first letter of every space-separated word in upper case.",
          "return ' '.join(word[:1].upper() + word[1:] for word in s.split(' '))",
          "assert capitalize_words('hello world') == 'Hello World'\nassert capitalize_words('a b') == 'A B'\n"
          "assert capitalize_words('') == ''"),
    _task("caesar(s, shift)", "Return s with each lower-case letter moved shift places along the alphabet.",
          """
          out = []
          for ch in s:
              if 'a' <= ch <= 'z':
                  ch = chr((ord(ch) - ord('a') + shift) % 26 + ord('a'))
              out.append(ch)
          return ''.join(out)
          """,
          "assert caesar('abc', 1) == 'bcd'\nassert caesar('xyz', 3) == 'abc'\n"
          "assert caesar('hi there', 0) == 'hi there'"),
    # loops over lists and numbers
    _task("sum_list(items)", "Return the sum of the numbers in the list, using a loop.",
          """
          total = 0
          for x in items:
              total += x
          return total
          """,
          "assert sum_list([1, 2, 3]) == 6\nassert sum_list([]) == 0\nassert sum_list([-2, 2, 5]) == 5"),
    _task("mean(xs)", "Return the average of a non-empty list of numbers.", "return sum(xs) / len(xs)",
          "assert mean([1, 2, 3]) == 2\nassert mean([5]) == 5\nassert abs(mean([1, 2]) - 1.5) < 1e-9"),
    _task("count_positive(xs)", "Return how many numbers in xs are greater than zero.",
          "return sum(1 for x in xs if x > 0)",
          "assert count_positive([1, -2, 3, 0]) == 2\nassert count_positive([]) == 0\n"
          "assert count_positive([-1]) == 0"),
    _task("running_sum(xs)", "Return the list of running totals of xs: [x0, x0 + x1, ...].",
          """
          out, total = [], 0
          for x in xs:
              total += x
              out.append(total)
          return out
          """,
          "assert running_sum([1, 2, 3]) == [1, 3, 6]\nassert running_sum([]) == []\n"
          "assert running_sum([5, -5]) == [5, 0]"),
    _task("factorial(n)", "Return n! for n >= 0.",
          """
          result = 1
          for i in range(2, n + 1):
              result *= i
          return result
          """,
          "assert factorial(0) == 1\nassert factorial(5) == 120\nassert factorial(10) == 3628800"),
    _task("fibonacci(n)", "Return the n-th Fibonacci number, with fibonacci(0) == 0 and fibonacci(1) == 1.",
          """
          a, b = 0, 1
          for _ in range(n):
              a, b = b, a + b
          return a
          """,
          "assert fibonacci(0) == 0\nassert fibonacci(1) == 1\nassert fibonacci(10) == 55"),
    _task("gcd(a, b)", "Return the greatest common divisor of two positive integers.",
          """
          while b:
              a, b = b, a % b
          return a
          """,
          "assert gcd(12, 18) == 6\nassert gcd(7, 5) == 1\nassert gcd(10, 10) == 10"),
    _task("is_prime(n)", "Return True if n is a prime number.",
          """
          if n < 2:
              return False
          i = 2
          while i * i <= n:
              if n % i == 0:
                  return False
              i += 1
          return True
          """,
          "assert is_prime(2) is True\nassert is_prime(97) is True\nassert is_prime(1) is False\n"
          "assert is_prime(91) is False"),
    _task("digit_sum(n)", "Return the sum of the decimal digits of a non-negative integer n.",
          "return sum(int(d) for d in str(n))",
          "assert digit_sum(123) == 6\nassert digit_sum(0) == 0\nassert digit_sum(9999) == 36"),
    _task("fizzbuzz(n)", "Return 'Fizz' if n is divisible by 3, 'Buzz' if by 5, 'FizzBuzz' if by both, else str(n).",
          """
          if n % 15 == 0:
              return 'FizzBuzz'
          if n % 3 == 0:
              return 'Fizz'
          if n % 5 == 0:
              return 'Buzz'
          return str(n)
          """,
          "assert fizzbuzz(3) == 'Fizz'\nassert fizzbuzz(10) == 'Buzz'\nassert fizzbuzz(30) == 'FizzBuzz'\n"
          "assert fizzbuzz(7) == '7'"),
    _task("second_largest(xs)", "Return the second largest distinct value in a list with at least two values.",
          "return sorted(set(xs))[-2]",
          "assert second_largest([1, 5, 3]) == 3\nassert second_largest([4, 4, 2]) == 2\n"
          "assert second_largest([-1, -2]) == -2"),
    _task("flatten(lists)", "Return one list holding the elements of a list of lists, in order.",
          "return [x for inner in lists for x in inner]",
          "assert flatten([[1, 2], [3], []]) == [1, 2, 3]\nassert flatten([]) == []"),
    _task("unique(items)", "Return the items without repeats, keeping the order of first appearance.",
          """
          seen, out = set(), []
          for x in items:
              if x not in seen:
                  seen.add(x)
                  out.append(x)
          return out
          """,
          "assert unique([3, 1, 3, 2, 1]) == [3, 1, 2]\nassert unique([]) == []\nassert unique(['a', 'a']) == ['a']"),
    _task("chunk(items, size)", "Return the list cut into consecutive pieces of length size (the last may be shorter).",
          "return [items[i:i + size] for i in range(0, len(items), size)]",
          "assert chunk([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]\nassert chunk([], 3) == []\n"
          "assert chunk([1, 2], 5) == [[1, 2]]"),
    # dicts
    _task("word_counts(text)", "Return a dict mapping each space-separated word of text to how often it appears.",
          """
          counts = {}
          for word in text.split():
              counts[word] = counts.get(word, 0) + 1
          return counts
          """,
          "assert word_counts('a b a') == {'a': 2, 'b': 1}\nassert word_counts('') == {}"),
    _task("invert_dict(d)", "Return a new dict with the keys and values of d swapped.",
          "return {v: k for k, v in d.items()}",
          "assert invert_dict({'a': 1, 'b': 2}) == {1: 'a', 2: 'b'}\nassert invert_dict({}) == {}"),
    _task("merge_dicts(a, b)", "Return a new dict with the entries of a and b; b wins where both have a key.",
          "return {**a, **b}",
          "x = {'k': 1}\nassert merge_dicts(x, {'k': 2, 'j': 3}) == {'k': 2, 'j': 3}\nassert x == {'k': 1}\n"
          "assert merge_dicts({}, {}) == {}"),
]


def code_tasks() -> list[CodeTask]:
    """All tasks, in a fixed order (a new list each call, so callers may shuffle it)."""
    return list(_TASKS)
