"""One strict CSV reader for every table facefair reads (label files, manifests, predictions).

Handles a UTF-8 BOM and CRLF line ends, skips blank lines, and turns every problem into a
:class:`~facefair.errors.DataError` naming the file and the 1-based line. No torch import.
"""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .errors import DataError


def read_csv(path: str | Path, what: str = "file") -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The stripped header and every data row as (line number, stripped cells).

    A row whose width differs from the header's is an error; ``what`` names the file's role
    in the 'not found' and 'empty' messages.
    """
    with open_csv(path, what) as (header, rows):
        return header, list(rows)


@contextlib.contextmanager
def open_csv(path: str | Path, what: str = "file") -> Iterator[tuple[list[str], Iterator[tuple[int, list[str]]]]]:
    """The header and an iterator over the rows, read as they are consumed: a file of 10^8
    rows is read in the memory of one row. Errors as :func:`read_csv`."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{what} not found", path)
    try:
        fh = path.open(newline="", encoding="utf-8-sig")
    except OSError as e:
        raise DataError(f"cannot read: {e.strerror}", path) from None
    with fh:
        reader = csv.reader(fh)
        header = [h.strip() for h in _guard(lambda: next(reader, []), path)]
        if not header:
            raise DataError(f"empty {what}: expected a header line", path)
        yield header, _rows(reader, len(header), path)


def _guard(read: Callable[[], list[str]], path: Path) -> list[str]:
    try:
        return read()
    except (csv.Error, UnicodeDecodeError) as e:
        raise DataError(f"not a readable UTF-8 CSV: {e}", path) from None
    except OSError as e:
        raise DataError(f"cannot read: {e.strerror}", path) from None


def _rows(reader: Any, width: int, path: Path) -> Iterator[tuple[int, list[str]]]:
    try:
        for row in reader:
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != width:
                raise DataError(f"expected {width} columns, found {len(row)}", path, reader.line_num)
            yield reader.line_num, [c.strip() for c in row]
    except (csv.Error, UnicodeDecodeError) as e:
        raise DataError(f"not a readable UTF-8 CSV: {e}", path) from None
    except OSError as e:
        raise DataError(f"cannot read: {e.strerror}", path) from None
