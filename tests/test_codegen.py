"""Notebook 10's sample checks: where a sampled function ends, and whether it parses and compiles."""
from genlib.text.codegen import compiles, first_function, parses


def test_first_function_stops_at_the_next_top_level_line():
    text = "def f(x):\n    y = x\n\n    return y\n\ndef g():\n    pass\n"
    source, ended = first_function(text)
    assert source == "def f(x):\n    y = x\n\n    return y\n" and ended
    # a comment or a closing bracket at column 0 does not end it; running out of text does
    source, ended = first_function("def f(x,\n):\n    return (1,\n)\n# note\n    ")
    assert not ended and source.startswith("def f(x,\n):")


def test_parse_and_compile_catch_different_mistakes():
    assert parses("def f(x):\n    return x\n") and compiles("def f(x):\n    return x\n")
    assert not parses("def f(x:\n    return x\n") and not compiles("def f(x:\n")
    assert parses("def f(x, x):\n    pass\n") and not compiles("def f(x, x):\n    pass\n")  # the compiler refuses
    assert parses("return 1\n") and not compiles("return 1\n")
