"""Progress bars on a terminal only: in a log file tqdm's carriage-return frames are noise (a
partial run's log reached 140 KB of them), and the trainer writes one line per epoch anyway."""

from __future__ import annotations

import sys
from typing import Any

from tqdm import tqdm


def on_terminal() -> bool:
    return sys.stderr.isatty()


def bar(iterable: Any = None, enabled: bool = True, **kwargs: Any) -> tqdm:
    """A tqdm bar, shown only where asked for and stderr is a terminal."""
    return tqdm(iterable, disable=not enabled or not on_terminal(), **kwargs)
