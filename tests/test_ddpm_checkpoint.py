"""The shipped DDPM MNIST model: it loads, its bytes match the manifest, and a quick FID estimate backs its metric.

The manifest's FID was measured with N = 1,000 samples (DPM++ 2M Karras, 20 steps). Here we draw N = 100 with
10 steps to stay quick. FID is biased upwards at small N, by roughly the same amount for any set of images, so the
bound adds to the stated FID what the real floor gains from N = 1,000 to N = 100, with a margin for the fewer
steps and the sampling noise of N = 100. (Calibration: seeds 1, 2, 3 gave 816, 623, 748 against a bound of about
1,160.)
"""
import pytest
import torch

from genlib.checkpoints import checkpoint_dir, read_manifest
from genlib.data import load_mnist
from genlib.data.files import sha256_file
from genlib.diffusion.ddpm import load_ddpm_mnist, sample_images
from genlib.metrics import classifier_features, feature_stats, fid, load_fid_classifier

N = 100
MARGIN = 1.3  # allowed: 10 steps instead of 20 and the sampling noise of N = 100


def _entry():
    entry = read_manifest().get("ddpm_mnist")
    if entry is None or not (checkpoint_dir() / entry["file"]).exists():
        pytest.fail("the shipped checkpoint 'ddpm_mnist' is missing: train it with `python scripts/train_ddpm.py` "
                    "(about 30 CPU-minutes) or restore checkpoints/ddpm_mnist.pt and checkpoints/manifest.json")
    return entry


def test_shipped_ddpm_loads_and_matches_its_hash():
    entry = _entry()
    path = checkpoint_dir() / entry["file"]
    assert sha256_file(path) == entry["sha256"] and path.stat().st_size == entry["bytes"] < 20e6
    model, ab, loaded_entry = load_ddpm_mnist("cpu")  # load_checkpoint checks the sha256 again
    assert loaded_entry == entry and len(ab) == entry["settings"]["timesteps"] == 1000
    assert sum(p.numel() for p in model.parameters()) == entry["params"]
    assert entry["metric"]["name"] == "fid" and entry["metric"]["n"] == 1000
    assert entry["metric"]["real_floor_val"] < entry["metric"]["value"]  # a model does not beat real data


@pytest.fixture(scope="module")
def fid_setup():
    classifier = load_fid_classifier("cpu")
    train_stats = feature_stats(classifier_features(load_mnist("train")[0], classifier))
    return classifier, train_stats


def test_shipped_ddpm_reaches_its_stated_fid_roughly(fid_setup):
    entry = _entry()
    classifier, train_stats = fid_setup
    model, ab, _ = load_ddpm_mnist("cpu")
    with torch.no_grad():
        samples, nfe = sample_images(model, ab, N, "dpmpp_2m", 10, karras=True, seed=1, batch_size=N, progress=False)
    floor_small = fid(load_mnist("val")[0][:N], train_stats, classifier)
    stated, floor_big = entry["metric"]["value"], entry["metric"]["real_floor_val"]
    bound = MARGIN * (stated + floor_small - floor_big)
    score = fid(samples, train_stats, classifier)
    assert nfe == 10 and samples.shape == (N, 1, 28, 28)
    assert floor_small < score < bound, f"FID {score:.1f} at N = {N} (bound {bound:.1f}, real floor {floor_small:.1f})"
    noise = fid(torch.rand(N, 1, 28, 28), train_stats, classifier)
    assert score < noise / 10  # the check has teeth: noise scores far worse
    with torch.no_grad():  # the same model sampled with more steps gets a better FID
        few, _ = sample_images(model, ab, N, "dpmpp_2m", 3, karras=True, seed=1, batch_size=N, progress=False)
    assert fid(few, train_stats, classifier) > 3 * score
