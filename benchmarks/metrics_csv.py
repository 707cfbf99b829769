"""``facefair metrics`` on a large predictions CSV: wall time and peak memory of the command,
as a user runs it (a child process; peak resident memory from the kernel's rusage).

The file is generated here (seeded: y, pred, a 7-group label, a score, an id per row) and
deleted after. The ratio is the peak memory per row in bytes.

    python benchmarks/metrics_csv.py --rows 10000000
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import write_result

CHUNK = 1_000_000


def write_csv(path: Path, rows: int, seed: int = 0) -> None:
    """A predictions CSV written chunk by chunk (the generator's memory stays one chunk)."""
    rng = np.random.default_rng(seed)
    groups = np.array(["White", "Black", "East Asian", "Indian", "Latino", "Middle Eastern", "SE Asian"])
    with path.open("w") as fh:
        fh.write("id,y,pred,group,score\n")
        for start in range(0, rows, CHUNK):
            n = min(CHUNK, rows - start)
            y = rng.integers(0, 2, n)
            score = np.clip(rng.normal(0.3 + 0.4 * y, 0.2), 0, 1)
            pred = (score >= 0.5).astype(int)
            g = groups[rng.integers(0, len(groups), n)]
            ids = np.char.add("img", np.arange(start, start + n).astype(str))
            lines = np.char.add(np.char.add(np.char.add(np.char.add(np.char.add(ids, ","), y.astype(str)), ","),
                                            np.char.add(pred.astype(str), ",")),
                                np.char.add(np.char.add(g, ","), np.char.mod("%.6f", score)))
            fh.write("\n".join(lines.tolist()) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--dir", default=None, help="where the temporary CSV goes (default: the system's)")
    ap.add_argument("--write-only", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.write_only:  # the generator runs in a process of its own, so its memory is not counted
        write_csv(Path(args.write_only), args.rows)
        return
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        csv = Path(tmp) / "predictions.csv"
        t = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--rows", str(args.rows), "--write-only", str(csv)], check=True)
        made = time.perf_counter() - t
        size = csv.stat().st_size
        t = time.perf_counter()
        # the command's own peak: VmHWM of its address space, read as it ends (a rusage peak
        # would count the pages of this larger process, from which the child is started)
        probe = Path(tmp) / "peak"
        code = ("import runpy, sys\n"
                f"sys.argv = ['facefair', 'metrics', {str(csv)!r}, '--json']\n"
                "try:\n    runpy.run_module('facefair', run_name='__main__')\n"
                "finally:\n"
                "    hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
                f"    open({str(probe)!r}, 'w').write(hwm)\n")
        r = subprocess.run([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                           check=False)
        wall = time.perf_counter() - t
        if r.returncode != 0:
            raise SystemExit(f"facefair metrics failed: {r.stderr.strip()}")
        peak = int(probe.read_text()) * 1024
    row = (f"| facefair metrics: peak memory per row | {args.rows:,} rows, {size / 2**30:.2f} GiB CSV "
           f"(7 groups, scores, ids) | {wall:.0f} s, peak {peak / 2**30:.2f} GiB | {peak / args.rows:.0f} bytes/row |")
    write_result(f"metrics_csv_{args.rows}", {"rows": args.rows, "csv_bytes": size, "wall_s": wall,
                                              "peak_rss_bytes": peak, "generate_s": made}, row)


if __name__ == "__main__":
    main()
