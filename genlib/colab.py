"""The set-up cell every notebook starts with: on Colab it fetches the course; anywhere else it does nothing.

REPO_URL is the one setting for where the course lives: the set-up cell clones it and the README's "Open in
Colab" links point at it. If you fork, change REPO_URL, then run `python scripts/workshop.py --sync-repo-url`,
which rewrites every notebook's set-up cell and the README's links from it. tests/test_notebooks.py checks every
notebook starts with BOOTSTRAP_CELL exactly, tests/test_colab.py runs it against a stand-in Colab, and
tests/test_workshop.py checks the README's links.
"""
import re

REPO_URL = "https://github.com/genai-from-scratch/genai-from-scratch.git"
BRANCH = "main"  # the branch the README's Colab links open


def bootstrap_cell(repo_url: str = REPO_URL) -> str:
    """The text of the first code cell of every notebook, cloning `repo_url` when it runs on Colab."""
    return f'''# Colab set-up: on Google Colab this fetches the course (code, data, checkpoints); elsewhere it does nothing.
import os, subprocess, sys
try:
    import google.colab  # noqa: F401  (this module exists only on Colab)
    ON_COLAB = True
except ImportError:
    ON_COLAB = False
if ON_COLAB:
    root = os.environ.get("GENLIB_COLAB_DIR", "/content/genai-from-scratch")
    if not os.path.isdir(root):
        url = os.environ.get("GENLIB_REPO_URL", "{repo_url}")
        subprocess.run(["git", "clone", "--depth", "1", url, root], check=True)
    sys.path.insert(0, root)  # Colab already has torch, torchvision, matplotlib, ipywidgets and tqdm
    os.chdir(os.path.join(root, "notebooks"))'''


BOOTSTRAP_CELL = bootstrap_cell()


def github_path(repo_url: str = REPO_URL) -> str:
    """'owner/name' of a GitHub repository URL: Colab opens notebooks from GitHub by that path."""
    m = re.fullmatch(r"(?:https://github\.com/|git@github\.com:)([\w.-]+)/([\w.-]+?)(?:\.git)?/?", repo_url)
    if m is None:
        raise ValueError(f"REPO_URL={repo_url!r} is not a GitHub repository: Colab's links need one; "
                         "set it to https://github.com/OWNER/NAME.git in genlib/colab.py")
    return f"{m[1]}/{m[2]}"


def colab_link(notebook: str, repo_url: str = REPO_URL, branch: str = BRANCH) -> str:
    """The "Open in Colab" address of notebooks/<notebook> in the repository at `repo_url`."""
    return f"https://colab.research.google.com/github/{github_path(repo_url)}/blob/{branch}/notebooks/{notebook}"
