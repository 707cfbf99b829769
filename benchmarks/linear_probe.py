"""Are the shipped weights ImageNet-trained? A frozen-feature linear probe, pretrained vs random.

The same images, the same probe (L2-regularised logistic regression on standardised pooled
features of the backbone's last stage, its L2 weight chosen on validation), three starting
points: the published weights with the normalisation they were trained with, the same weights
with the other common normalisation (ImageNet mean/std against mean = std = 0.5: which one the
weights expect is measured, not assumed), and a randomly initialised network. Tasks: CelebA
Smiling and Male, FairFace gender (official layouts under --data).

    python benchmarks/linear_probe.py --arch efficientnet_lite0 --size 96 --data ../shared/data
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result

from facefair.analysis.probe import frozen_features, linear_probe
from facefair.config import TrainConfig
from facefair.data.from_config import load_task
from facefair.data.loader import SplitImages, iterate, to_input
from facefair.models import build_model
from facefair.models.backbones import IMAGENET_MEAN, IMAGENET_STD, LITE_MEAN, LITE_STD
from facefair.models.pretrained import load_pretrained

TASKS = {"celeba-Smiling": ("celeba", "Smiling", "Male"), "celeba-Male": ("celeba", "Male", "Young"),
         "fairface-gender": ("fairface", "gender", "race")}
NORMS = {"lite": (LITE_MEAN, LITE_STD), "imagenet": (IMAGENET_MEAN, IMAGENET_STD)}


def bn_statistics_from(model: torch.nn.Module, ds: SplitImages, batch: int = 32) -> None:
    """Recompute every BatchNorm's running statistics on ``ds`` (a cumulative average): a random
    network whose features are not collapsed by its untrained statistics, the fairer control."""
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    with torch.no_grad():
        for b in iterate(ds, batch):
            model.features(to_input(b["x"], "cpu", False))
    model.eval()


def probe(arch: str, start: str, norm: str, splits: dict[str, SplitImages], seed: int) -> dict[str, Any]:
    torch.manual_seed(seed)
    model = build_model(arch)
    if start == "imagenet":
        load_pretrained(model.backbone)
    mean, std = NORMS[norm]
    model.normalize.mean.copy_(torch.tensor(mean).view(1, -1, 1, 1))
    model.normalize.std.copy_(torch.tensor(std).view(1, -1, 1, 1))
    if start == "random+bn":
        bn_statistics_from(model, splits["train"])
    t0 = time.perf_counter()
    feats = {s: frozen_features(model, splits[s]) for s in ("train", "val", "test")}
    seconds = time.perf_counter() - t0
    r = linear_probe(feats["train"], feats["val"], feats["test"])
    return {"start": start, "norm": norm, "l2": r.l2, "val_accuracy": r.val_accuracy,
            "test_accuracy": r.test_accuracy, "train_accuracy": r.train_accuracy,
            "feature_img_per_s": sum(len(d) for d in splits.values()) / seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="efficientnet_lite0")
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--n-train", type=int, default=3000)
    ap.add_argument("--n-val", type=int, default=1000)
    ap.add_argument("--n-test", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--arms", default="imagenet:lite,imagenet:imagenet,random:lite,random+bn:lite",
                    help="START:NORM pairs; START imagenet, random or random+bn (BN statistics from the data)")
    args = ap.parse_args()
    arms = [tuple(a.split(":")) for a in args.arms.split(",")]
    results: dict[str, Any] = {}
    for name in args.tasks.split(","):
        dataset, target, protected = TASKS[name]
        cfg = TrainConfig(dataset=dataset, root=str(Path(args.data) / dataset), target=target,
                          protected=protected, size=args.size)
        task = load_task(cfg)
        n = {"train": args.n_train, "val": args.n_val, "test": args.n_test}
        splits = {s: SplitImages(task, task.indices(s, n[s], args.seed), args.size) for s in n}
        rows = [probe(args.arch, start, norm, splits, args.seed) for start, norm in arms]
        base_rate = float(np.mean(task.y[splits["test"].indices] == 1))
        results[name] = {"rows": rows, "n": {s: len(d) for s, d in splits.items()},
                         "test_majority_accuracy": max(base_rate, 1 - base_rate)}
        for r in rows:
            print(f"{name}: {r['start']:<8} norm {r['norm']:<8} test {r['test_accuracy']:.4f} "
                  f"(val {r['val_accuracy']:.4f}, l2 {r['l2']})", flush=True)
    labels = [f"{start} ({norm} norm)" for start, norm in arms]
    cells, gains = [], []
    for name, res in results.items():
        acc = [r["test_accuracy"] for r in res["rows"]]
        cells.append(f"{name} " + " / ".join(f"{a:.3f}" for a in acc)
                     + f" (majority {res['test_majority_accuracy']:.3f})")
        pre = [a for (start, _), a in zip(arms, acc) if start == "imagenet"]
        rnd = [a for (start, _), a in zip(arms, acc) if start != "imagenet"]
        if pre and rnd:
            gains.append(f"{name} {max(pre) - max(rnd):+.3f}")
    row = (f"| linear_probe | {args.arch} {args.size} px, frozen pooled features, logistic probe (L2 chosen on "
           f"val); {args.n_train}/{args.n_val}/{args.n_test} train/val/test images | test accuracy, "
           f"{' / '.join(labels)}: {'; '.join(cells)} | best pretrained minus best random: {', '.join(gains)} |")
    write_result(f"linear_probe_{args.arch}_{args.size}", {"arch": args.arch, "size": args.size,
                                                            "arms": labels, "results": results}, row)


if __name__ == "__main__":
    main()
