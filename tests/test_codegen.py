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


def test_shipped_code_model_comes_with_its_own_tokenizer_and_knows_python():
    import math
    import torch
    from genlib.checkpoints import read_manifest
    from genlib.text.align import merges_digest
    from genlib.text.codegen import load_code_model
    from genlib.text.lm import next_token_loss
    entry = read_manifest()["code_gpt"]
    model, tok = load_code_model()
    assert merges_digest(tok) == entry["settings"]["tokenizer_merges_sha"] and tok.vocab_size == 2048
    ids = torch.tensor(tok.encode("def area(width, height):\n    return width * height\n\n\nclass Point:\n"
                                  "    def __init__(self, x, y):\n        self.x = x\n        self.y = y\n"))[None]
    with torch.no_grad():
        loss = next_token_loss(model, (ids[:, :-1], ids[:, 1:])).item()
    assert loss < 0.5 * math.log(2048), loss  # far better than chance on code it never saw


def test_parse_and_compile_stay_quiet_about_odd_samples():
    import warnings
    odd = "x = 0x1for y\n"  # valid (0x1f or y), but the tokenizer warns about the hex literal
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert parses(odd) and compiles(odd)
    assert not caught
