"""How long the full ``facefair demo`` takes, against its 10-minute budget on 2 CPU cores.

Runs the demo as a user does (the CLI, in a fresh folder, so nothing is resumed) and records
the per-step seconds it writes to ``timings.json``. The ratio is total time / 600 s.

    python benchmarks/demo_time.py
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import write_result

BUDGET_S = 600.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the test's smaller setting instead of the full demo")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "demo"
        t0 = time.perf_counter()
        cmd = [sys.executable, "-m", "facefair", "demo", "--no-progress", "--out", str(out)]
        subprocess.run(cmd + (["--quick"] if args.quick else []), check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        seconds = json.loads((out / "timings.json").read_text())["seconds"]
    setting = "quick (test) setting" if args.quick else "full demo: 6 runs, robustness, IG + CAM, report"
    steps = ", ".join(f"{k} {v:.0f}" for k, v in seconds.items() if k != "total")
    row = (f"| demo wall time / 10-minute budget | {setting}, 2 CPU threads | {wall:.0f} s "
           f"(process start included; steps in s: {steps}) | {wall / BUDGET_S:.2f} |")
    write_result("demo_time" + ("_quick" if args.quick else ""),
                 {"wall_s": wall, "budget_s": BUDGET_S, "seconds": seconds, "quick": args.quick}, row)


if __name__ == "__main__":
    main()
