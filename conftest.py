"""Test-run set-up shared by unit tests and nbval: no network, quiet plots, a report of notebook run times."""
import importlib.util
import os
import sys
import time
from pathlib import Path

OFFLINE = Path(__file__).parent / "tests" / "offline"

# Every process started from here (notebook kernels included) imports tests/offline/sitecustomize.py.
os.environ["PYTHONPATH"] = os.pathsep.join([str(OFFLINE), *filter(None, [os.environ.get("PYTHONPATH")])])
os.environ.setdefault("MPLBACKEND", "Agg")
_spec = importlib.util.spec_from_file_location("genlib_offline_guard", OFFLINE / "sitecustomize.py")
_spec.loader.exec_module(importlib.util.module_from_spec(_spec))  # blocks the network in this process too

_notebook_seconds: dict[str, float] = {}


def pytest_runtest_logreport(report):
    if report.when == "call" and ".ipynb::" in report.nodeid:
        name = report.nodeid.split("::")[0]
        _notebook_seconds[name] = _notebook_seconds.get(name, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter):
    if _notebook_seconds:
        terminalreporter.section("notebook run times (seconds, budget 120)")
        for name, secs in sorted(_notebook_seconds.items()):
            flag = "  OVER BUDGET" if secs > 120 else ""
            terminalreporter.write_line(f"{secs:7.1f}  {name}{flag}")
