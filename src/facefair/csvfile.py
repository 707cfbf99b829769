"""One strict CSV reader for every table facefair reads (label files, manifests, predictions).

Handles a UTF-8 BOM and CRLF line ends, skips blank lines, and turns every problem into a
:class:`~facefair.errors.DataError` naming the file and the 1-based line. No torch import.
"""

from __future__ import annotations

import csv
from pathlib import Path

from .errors import DataError


def read_csv(path: str | Path, what: str = "file") -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The stripped header and every data row as (line number, stripped cells).

    A row whose width differs from the header's is an error; ``what`` names the file's role
    in the 'not found' and 'empty' messages.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{what} not found", path)
    rows: list[tuple[int, list[str]]] = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = [h.strip() for h in next(reader, [])]
            if not header:
                raise DataError(f"empty {what}: expected a header line", path)
            for row in reader:
                if not row or all(not c.strip() for c in row):
                    continue
                if len(row) != len(header):
                    raise DataError(f"expected {len(header)} columns, found {len(row)}", path, reader.line_num)
                rows.append((reader.line_num, [c.strip() for c in row]))
    except (csv.Error, UnicodeDecodeError) as e:
        raise DataError(f"not a readable UTF-8 CSV: {e}", path) from None
    except OSError as e:
        raise DataError(f"cannot read: {e.strerror}", path) from None
    return header, rows
