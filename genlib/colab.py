"""The set-up cell every notebook starts with: on Colab it fetches the course; anywhere else it does nothing.

The text below is the single source of that cell; tests/test_notebooks.py checks every notebook starts with
it exactly, and runs it against a fake `google.colab` module and a local clone.
"""

REPO_URL = "https://github.com/genai-from-scratch/genai-from-scratch.git"

BOOTSTRAP_CELL = f'''# Colab set-up: on Google Colab this fetches the course (code, data, checkpoints); elsewhere it does nothing.
import os, subprocess, sys
try:
    import google.colab  # noqa: F401  (this module exists only on Colab)
    ON_COLAB = True
except ImportError:
    ON_COLAB = False
if ON_COLAB:
    root = os.environ.get("GENLIB_COLAB_DIR", "/content/genai-from-scratch")
    if not os.path.isdir(root):
        url = os.environ.get("GENLIB_REPO_URL", "{REPO_URL}")
        subprocess.run(["git", "clone", "--depth", "1", url, root], check=True)
    sys.path.insert(0, root)  # Colab already has torch, torchvision, matplotlib, ipywidgets and tqdm
    os.chdir(os.path.join(root, "notebooks"))'''
