"""A learner's laptop is never idle: the notebooks that train must pass while another process hogs a core.

Their asserts compare at equal steps or tokens, never by wall-clock races (those live in benchmarks/), so load
can make them slower but must not change what they find. Notebooks 06 (a GPT recipe race) and 14 (DDPM
training) are the two that train the most, so they run again here beside a busy loop.
"""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ["notebooks/06_training_a_gpt.ipynb", "notebooks/14_ddpm.ipynb"]


def test_training_notebooks_pass_beside_a_cpu_hog():
    # The kernels run as a learner does after reading describe()'s warning: one torch thread per free core. With
    # two threads beside the hog, torch's threads wait on each other and notebook 06 took over 13 minutes here
    # instead of 38 s (the 10-400x slowdown the warning is about).
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])  # one core, fully busy
    try:
        out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
                              "--nbval-current-env", "--nbval-cell-timeout=900", *NOTEBOOKS],
                             cwd=ROOT, capture_output=True, text=True, timeout=1800, env=env)
    finally:
        hog.kill()
        hog.wait()
    assert hog.returncode is not None
    assert out.returncode == 0, f"a training notebook failed on a busy machine:\n{out.stdout[-3000:]}"
