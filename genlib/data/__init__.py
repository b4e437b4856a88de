"""Data loaders: bundled real data (MNIST, Tiny Shakespeare) checked by sha256, and toy data made in code."""
from genlib.data.files import DataFileError, bundled_path, data_dir, sha256_file
from genlib.data.mnist import load_mnist
from genlib.data.text import load_shakespeare, shakespeare_splits
from genlib.data.toy2d import TOYS, make_toy, ring_of_gaussians, spiral, two_moons

__all__ = ["DataFileError", "bundled_path", "data_dir", "sha256_file", "load_mnist", "load_shakespeare",
           "shakespeare_splits", "TOYS", "make_toy", "ring_of_gaussians", "spiral", "two_moons"]
