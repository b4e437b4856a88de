"""Progress bars that still say something in a committed notebook.

tqdm.auto draws a live widget, but a saved notebook does not keep widget state: GitHub then shows the bar's
first frame, "0%| 0/150", as if nothing ran. With GENLIB_STATIC_PROGRESS=1 (scripts/execute_notebooks.py sets
it) `progress` returns a plain text bar that prints one line, its final state ("100%| 150/150 [...]"), when
it closes; a bar with leave=False prints nothing at all.
"""
from __future__ import annotations

import os
import sys
from typing import Any, Iterable

from tqdm.auto import tqdm as _live_bar
from tqdm.std import tqdm as _text_bar

STATIC_ENV = "GENLIB_STATIC_PROGRESS"


class FinalLineBar(_text_bar):
    """A tqdm text bar that stays silent while it runs and writes only its last state when it closes."""

    _closing = False

    def display(self, msg: str | None = None, pos: int | None = None) -> bool | None:
        if not self._closing or msg == "":  # running, or a leave=False bar clearing a line it never wrote
            return None
        self.fp.write(str(self) if msg is None else msg)  # no leading carriage return: one clean line
        self.fp.flush()
        return True

    def close(self) -> None:
        self._closing = True
        super().close()


def static_progress() -> bool:
    """True when bars should be plain text that keeps its final line (GENLIB_STATIC_PROGRESS=1)."""
    return os.environ.get(STATIC_ENV) == "1"


def progress(iterable: Iterable | None = None, **kwargs: Any) -> _text_bar:
    """A progress bar, as `tqdm(iterable, **kwargs)`: tqdm.auto's widget normally, its final line when static.

    Use it wherever you would write tqdm.auto.tqdm: `for x in progress(items, desc="epochs"): ...`, or
    `bar = progress(total=n)`, `bar.update()`, `bar.close()`. In static mode leave defaults to True (keep the
    final line), leave=False bars leave no trace, and the bar writes to stdout, not stderr (red in Jupyter).
    """
    if not static_progress():
        return _live_bar(iterable, **kwargs)
    kwargs.setdefault("leave", True)
    kwargs.setdefault("file", sys.stdout)
    kwargs.setdefault("mininterval", 3600.0)  # no refresh work while running: only the closing line is written
    return FinalLineBar(iterable, **kwargs)
