"""Per-seed numbers and method-minus-base differences from committed results.json archives,
as docs/RESULTS.md quotes them (no run folders needed).

    python docs/experiments/per_seed.py ARCHIVE.json BASE_RUN METHOD_RUN [--grid VALUE]
"""

from __future__ import annotations

import argparse
import json

KEYS = ("accuracy", "equal_opportunity_diff", "equalized_odds_mean", "equalized_odds_sum",
        "demographic_parity_diff", "worst_group_accuracy", "auc")


def rows(archive: dict, run: str, grid: str | None) -> dict[int, dict]:
    out = {}
    for r in archive["runs"]:
        if r["run"] != run or (grid is not None and not r["folder"].startswith(f"{grid}/")):
            continue
        m = r["metrics"]
        vals = {k: m["metrics"].get(k) for k in KEYS}
        for g in m["groups"]:
            vals[f"tpr[{g['group']}]"] = g["tpr"]
            vals[f"fpr[{g['group']}]"] = g.get("fpr")
        out[r["seed"]] = vals
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("archive")
    ap.add_argument("base")
    ap.add_argument("method")
    ap.add_argument("--grid", default=None)
    args = ap.parse_args()
    with open(args.archive) as f:
        archive = json.load(f)
    base, meth = rows(archive, args.base, args.grid), rows(archive, args.method, args.grid)
    seeds = sorted(set(base) & set(meth))
    keys = [k for k in base[seeds[0]] if base[seeds[0]][k] is not None]
    print(f"{'metric':<34}" + "".join(f"  seed {s}: base -> method (diff)" for s in seeds) + "   sign on every seed")
    for k in keys:
        diffs = [meth[s][k] - base[s][k] for s in seeds]
        same = "all +" if all(d > 0 for d in diffs) else "all -" if all(d < 0 for d in diffs) else "mixed"
        cells = "".join(f"  {base[s][k]:.4f} -> {meth[s][k]:.4f} ({d:+.4f})" for s, d in zip(seeds, diffs))
        mean = sum(diffs) / len(diffs)
        print(f"{k:<34}{cells}   mean {mean:+.4f} {same}")


if __name__ == "__main__":
    main()
