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

from facefair.config import TrainConfig
from facefair.data.loader import SplitImages, iterate, to_input
from facefair.models import build_model
from facefair.models.backbones import IMAGENET_MEAN, IMAGENET_STD, LITE_MEAN, LITE_STD
from facefair.models.pretrained import load_pretrained
from facefair.trainer import load_task

TASKS = {"celeba-Smiling": ("celeba", "Smiling", "Male"), "celeba-Male": ("celeba", "Male", "Young"),
         "fairface-gender": ("fairface", "gender", "race")}
NORMS = {"lite": (LITE_MEAN, LITE_STD), "imagenet": (IMAGENET_MEAN, IMAGENET_STD)}


@torch.no_grad()
def features(model: torch.nn.Module, ds: SplitImages, batch: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Pooled last-stage features (eval mode) and labels of every image of ``ds``."""
    model.eval()
    feats, ys = [], []
    for b in iterate(ds, batch):
        feats.append(model.features(to_input(b["x"], "cpu", False)).numpy())
        ys.append(b["y"].numpy())
    return np.concatenate(feats), np.concatenate(ys)


def fit_probe(x: np.ndarray, y: np.ndarray, l2: float, iters: int = 200) -> torch.nn.Linear:
    """Binary logistic regression by L-BFGS (a convex problem: the answer does not hang on a seed)."""
    xt, yt = torch.from_numpy(x).float(), torch.from_numpy(y).float()
    lin = torch.nn.Linear(x.shape[1], 1)
    torch.nn.init.zeros_(lin.weight)
    torch.nn.init.zeros_(lin.bias)
    opt = torch.optim.LBFGS(lin.parameters(), max_iter=iters, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(lin(xt).squeeze(1), yt)
        loss = loss + l2 * lin.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return lin


def accuracy(lin: torch.nn.Linear, x: np.ndarray, y: np.ndarray) -> float:
    with torch.no_grad():
        return float(((lin(torch.from_numpy(x).float()).squeeze(1) > 0).numpy() == (y == 1)).mean())


def probe(arch: str, start: str, norm: str, splits: dict[str, SplitImages], seed: int) -> dict[str, Any]:
    torch.manual_seed(seed)
    model = build_model(arch)
    if start == "imagenet":
        load_pretrained(model.backbone)
    mean, std = NORMS[norm]
    model.normalize.mean.copy_(torch.tensor(mean).view(1, -1, 1, 1))
    model.normalize.std.copy_(torch.tensor(std).view(1, -1, 1, 1))
    t0 = time.perf_counter()
    (xtr, ytr), (xva, yva), (xte, yte) = (features(model, splits[s]) for s in ("train", "val", "test"))
    seconds = time.perf_counter() - t0
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    xtr, xva, xte = (xtr - mu) / sd, (xva - mu) / sd, (xte - mu) / sd
    best = max((accuracy(fit_probe(xtr, ytr, l2), xva, yva), l2) for l2 in (1e-4, 1e-3, 1e-2, 1e-1))
    lin = fit_probe(xtr, ytr, best[1])
    return {"start": start, "norm": norm, "l2": best[1], "val_accuracy": best[0],
            "test_accuracy": accuracy(lin, xte, yte), "train_accuracy": accuracy(lin, xtr, ytr),
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
    args = ap.parse_args()
    arms = [("imagenet", "lite"), ("imagenet", "imagenet"), ("random", "lite")]
    results: dict[str, Any] = {}
    for name in args.tasks.split(","):
        dataset, target, protected = TASKS[name]
        cfg = TrainConfig(dataset=dataset, root=str(Path(args.data) / dataset), target=target,
                          protected=protected, size=args.size)
        task = load_task(cfg, log=lambda *_: None)
        n = {"train": args.n_train, "val": args.n_val, "test": args.n_test}
        splits = {s: SplitImages(task, task.indices(s, n[s], args.seed), args.size) for s in n}
        rows = [probe(args.arch, start, norm, splits, args.seed) for start, norm in arms]
        base_rate = float(np.mean(task.y[splits["test"].indices] == 1))
        results[name] = {"rows": rows, "n": {s: len(d) for s, d in splits.items()},
                         "test_majority_accuracy": max(base_rate, 1 - base_rate)}
        for r in rows:
            print(f"{name}: {r['start']:<8} norm {r['norm']:<8} test {r['test_accuracy']:.4f} "
                  f"(val {r['val_accuracy']:.4f}, l2 {r['l2']})", flush=True)
    cells = []
    for name, res in results.items():
        acc = {(r["start"], r["norm"]): r["test_accuracy"] for r in res["rows"]}
        cells.append(f"{name} {acc[('imagenet', 'lite')]:.3f} / {acc[('imagenet', 'imagenet')]:.3f} / "
                     f"{acc[('random', 'lite')]:.3f} (majority {res['test_majority_accuracy']:.3f})")
    row = (f"| linear_probe | {args.arch} {args.size} px, frozen pooled features, logistic probe; "
           f"{args.n_train}/{args.n_val}/{args.n_test} train/val/test images | test accuracy, ImageNet weights "
           f"(0.5 norm) / ImageNet weights (ImageNet norm) / random init: {'; '.join(cells)} | "
           f"pretrained minus random: " + ", ".join(
               f"{name} {next(r['test_accuracy'] for r in res['rows'] if r['start'] == 'imagenet' and r['norm'] == 'lite') - next(r['test_accuracy'] for r in res['rows'] if r['start'] == 'random'):+.3f}"
               for name, res in results.items()) + " |")
    write_result(f"linear_probe_{args.arch}_{args.size}", {"arch": args.arch, "size": args.size,
                                                            "results": results}, row)


if __name__ == "__main__":
    main()
