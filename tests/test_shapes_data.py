"""The captioned shapes of notebooks 16-18: deterministic, held-out pairs kept out, a judge that reads images."""
import pytest
import torch

from genlib.data.shapes import (HELD_OUT, MAX_WORDS, WORDS, encode_captions, make_shapes, parse_caption, read_back,
                                shows)


def test_same_seed_same_pictures_and_captions_and_values_in_range():
    a, ca, _ = make_shapes(50, "train", seed=3)
    b, cb, _ = make_shapes(50, "train", seed=3)
    c, cc, _ = make_shapes(50, "train", seed=4)
    assert torch.equal(a, b) and ca == cb and ca != cc
    assert a.shape == (50, 3, 32, 32) and a.min() >= 0 and a.max() <= 1


def test_held_out_pairs_never_in_train_and_always_in_heldout():
    _, _, train = make_shapes(600, "train")
    _, _, held = make_shapes(300, "heldout")
    pairs = lambda scene: {(s.colour, s.kind) for s in scene.shapes}  # noqa: E731
    assert not any(pairs(s) & HELD_OUT for s in train)
    assert all(pairs(s) & HELD_OUT for s in held)
    assert {len(s.shapes) for s in train} == {1, 2}


def test_the_judge_reads_every_clean_picture_and_rejects_wrong_captions():
    for split in ("train", "heldout"):
        x, captions, scenes = make_shapes(300, split, seed=7)
        assert all(shows(img, cap) for img, cap in zip(x, captions))
        found = read_back(x[0])
        assert sorted((s.kind, s.colour, s.size) for s in found) == sorted(
            (s.kind, s.colour, s.size) for s in scenes[0].shapes)
        wrong = sum(shows(x[i], captions[(i + 1) % 300]) for i in range(300)) / 300
        assert wrong < 0.05
    blank = torch.zeros(3, 32, 32)
    assert read_back(blank) == [] and not shows(blank, "a small red circle on the left")
    x, captions, _ = make_shapes(1, "train", seed=0)
    flipped = x[0].flip(-1) if "left" in captions[0] or "right" in captions[0] else x[0].flip(-2)
    assert not shows(flipped, captions[0])  # a mirrored picture breaks the position or relation


def test_captions_parse_and_encode_to_word_ids():
    assert parse_caption("a small red circle on the left") == ([("circle", "red", "small")], "on the left")
    assert parse_caption("a large blue square above a small green triangle") == (
        [("square", "blue", "large"), ("triangle", "green", "small")], "above")
    ids = encode_captions(["a small red circle on the left"])
    assert ids.shape == (1, MAX_WORDS) and [WORDS[i] for i in ids[0, :3]] == ["a", "small", "red"]
    assert (ids[0, 7:] == 0).all()


def test_bad_captions_and_images_say_what_is_wrong():
    with pytest.raises(ValueError, match="'purple' .* not a word of the shapes grammar"):
        encode_captions(["a small purple circle on the left"])
    with pytest.raises(ValueError, match="does not follow the shapes grammar"):
        parse_caption("circle a small red on the left")
    with pytest.raises(ValueError, match="at most"):
        encode_captions(["a small red circle left of a small red circle on the left"])
    with pytest.raises(ValueError, match=r"one image \[3, 32, 32\]"):
        read_back(torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match="split must be one of"):
        make_shapes(3, "test")
