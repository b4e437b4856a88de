import gzip
import shutil

import pytest
import torch

from genlib import data
from genlib.data import files, mnist


def test_mnist_split_is_stratified_disjoint_and_fixed():
    x, y = data.load_mnist("train")
    xv, yv = data.load_mnist("val")
    assert x.shape == (9000, 1, 28, 28) and xv.shape == (1000, 1, 28, 28)
    assert x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    assert torch.equal(yv.bincount(), torch.full((10,), 100))
    # the full 10k test set has these class counts (data/README.md); train gets the rest
    assert torch.equal(y.bincount() + yv.bincount(), torch.tensor([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]))
    flat_t, flat_v = x.flatten(1), xv.flatten(1)
    assert torch.cdist(flat_v[:200], flat_t).min() > 0  # no validation image is also a training image
    x2, _ = data.load_mnist("train")
    assert torch.equal(x, x2)


def test_mnist_labels_match_images():
    # a crude check that labels line up with pixels: mean '1' has far less ink than mean '0'
    x, y = data.load_mnist("val")
    assert x[y == 1].mean() < 0.6 * x[y == 0].mean()


def test_bad_split_name():
    with pytest.raises(ValueError, match="unknown split 'test'"):
        data.load_mnist("test")


def test_read_idx_rejects_non_idx(tmp_path):
    p = tmp_path / "bad.gz"
    with gzip.open(p, "wb") as f:
        f.write(b"\x00\x00\x0c\x01" + b"\x00" * 8)
    with pytest.raises(ValueError, match="not an unsigned-byte IDX"):
        mnist.read_idx(p)


def test_missing_and_corrupted_files_say_how_to_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLIB_DATA", str(tmp_path))
    monkeypatch.setattr(files, "_verified", set())
    with pytest.raises(data.DataFileError, match="missing.*git checkout -- data/tinyshakespeare/input.txt"):
        data.load_shakespeare()
    (tmp_path / "tinyshakespeare").mkdir()
    (tmp_path / "tinyshakespeare" / "input.txt").write_text("To be or not to be")
    with pytest.raises(data.DataFileError, match="corrupted"):
        data.load_shakespeare()


def test_good_copy_elsewhere_is_accepted(tmp_path, monkeypatch):
    shutil.copytree(data.data_dir() / "tinyshakespeare", tmp_path / "tinyshakespeare")
    monkeypatch.setenv("GENLIB_DATA", str(tmp_path))
    assert len(data.load_shakespeare()) == 1_115_394


def test_shakespeare_split_is_nanogpt_90_10():
    text = data.load_shakespeare()
    train, val = data.shakespeare_splits()
    assert train + val == text and len(train) == int(0.9 * len(text))
    assert len(set(text)) == 65
    with pytest.raises(ValueError):
        data.shakespeare_splits(1.5)


@pytest.mark.parametrize("name", list(data.TOYS))
def test_toys_are_deterministic_and_shaped(name):
    a, b = data.make_toy(name, 500, seed=1), data.make_toy(name, 500, seed=1)
    assert a.shape == (500, 2) and torch.equal(a, b)
    assert not torch.equal(a, data.make_toy(name, 500, seed=2))


def test_ring_points_sit_on_the_ring():
    pts = data.ring_of_gaussians(4000, modes=8, radius=2.0, std=0.05)
    r = pts.norm(dim=1)
    assert (r - 2.0).abs().max() < 0.3
    angles = torch.atan2(pts[:, 1], pts[:, 0])
    modes = torch.round(angles / (2 * torch.pi / 8)) % 8
    assert len(modes.unique()) == 8


def test_two_moons_has_two_clusters():
    pts = data.two_moons(2000, noise=0.0)
    assert pts[:, 0].min() < -1.3 and pts[:, 0].max() > 1.3  # spans about [-1.5, 1.5]


def test_unknown_toy_and_bad_n():
    with pytest.raises(ValueError, match="choose one of two_moons, ring, spiral"):
        data.make_toy("swiss_roll")
    with pytest.raises(ValueError):
        data.spiral(0)
