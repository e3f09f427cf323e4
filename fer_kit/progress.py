"""Progress that reads well on a terminal and in a log file.

On a terminal, :func:`progress_bar` is a ``tqdm`` bar. Anywhere else (a log file, a job
scheduler, a pipe) carriage-return updates would fill the log with half-lines, so it
prints one plain line when the stage ends instead: ``preprocess: 202 clips in 3.1 s``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any


def on_terminal() -> bool:
    """Whether stderr is an interactive terminal."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class StageLine:
    """A stand-in for a tqdm bar off a terminal: counts, then prints one line when closed."""

    def __init__(self, iterable: Iterable | None = None, total: int | None = None, desc: str = "",
                 unit: str = "it", **_: Any) -> None:
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc, unit
        self.n = 0
        self.start = time.perf_counter()
        self.closed = False

    def __iter__(self) -> Iterator:
        for item in self.iterable or ():
            yield item
            self.n += 1
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_postfix_str(self, *_: Any, **__: Any) -> None:
        pass

    set_postfix = set_postfix_str

    @staticmethod
    def write(message: str, file: Any = None) -> None:
        print(message, file=file or sys.stderr, flush=True)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.n:
            print(f"{self.desc}: {self.n} {self.unit}s in {time.perf_counter() - self.start:.1f} s",
                  file=sys.stderr, flush=True)

    def __enter__(self) -> StageLine:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def progress_bar(iterable: Iterable | None = None, *, total: int | None = None, desc: str = "", unit: str = "it",
                 enabled: bool = True) -> Any:
    """A tqdm bar on a terminal, a :class:`StageLine` elsewhere, or a silent one when not ``enabled``."""
    if enabled and on_terminal():
        from tqdm.auto import tqdm

        return tqdm(iterable, total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True)
    if not enabled:
        from tqdm.auto import tqdm

        return tqdm(iterable, total=total, desc=desc, unit=unit, disable=True)
    return StageLine(iterable, total=total, desc=desc, unit=unit)
