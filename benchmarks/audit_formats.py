"""One torchvision model audited from TorchScript, a torch.export program and ONNX: the same
decisions, the same metrics, and each format's audit time.

A ResNet-18 is trained outside facefair with a plain PyTorch loop (CelebA Smiling at 64 px on
the first ``--train`` training images, 2 epochs; the synthetic faces where ../shared/data is
absent), saved in the three formats, and each file is audited on the test split
(``facefair.auditing.audit``: predictions, every metric with 1,000 bootstrap replicates, no
pictures). The formats are audited in rounds, interleaved, so a slow spell of a shared machine
hits them alike; the ratio is each format's median time over TorchScript's.

    python benchmarks/audit_formats.py [--data ../shared/data] [--train 3000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torchvision
from _common import write_result
from torch import nn

from facefair.auditing import audit
from facefair.data.loader import SplitImages, iterate, to_input
from facefair.data.registry import load_dataset
from facefair.metrics import read_predictions

SIZE = 64


def train_outside(task, n_train: int, seed: int = 0) -> nn.Module:
    """A ResNet-18 trained as any lab would: plain loop, Adam, inputs in [-1, 1]."""
    torch.manual_seed(seed)
    model = torchvision.models.resnet18(num_classes=2)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    idx = task.indices("train")[:n_train]
    ds = SplitImages(task, idx, SIZE)
    model.train()
    for _ in range(2):
        for b in iterate(ds, 64, shuffle=True, seed=seed):
            loss = nn.functional.cross_entropy(model((to_input(b["x"], "cpu") - 0.5) / 0.5), b["y"])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--train", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    root = Path(args.data) / "celeba"
    if root.is_dir():
        dataset, target, protected = "celeba", "Smiling", "Male"
        data = load_dataset("celeba", str(root))
    else:
        print(f"{root} not found: the synthetic faces instead")
        dataset, root, target, protected = "synthetic", None, "smile", "group"
        data = load_dataset("synthetic", None, size=SIZE)
    task = data.task(target, protected)
    t0 = time.perf_counter()
    model = train_outside(task, args.train)
    train_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        files = {"torchscript": tmp / "model.ts", "export": tmp / "model.pt2", "onnx": tmp / "model.onnx"}
        example = torch.rand(8, 3, SIZE, SIZE)
        torch.jit.trace(model, example).save(str(files["torchscript"]))
        batch = torch.export.Dim("batch", min=1, max=4096)
        torch.export.save(torch.export.export(model, (example,), dynamic_shapes={"x": {0: batch}}),
                          str(files["export"]))
        torch.onnx.export(model, (example,), str(files["onnx"]), dynamo=False, input_names=["x"],
                          dynamic_axes={"x": {0: "n"}})
        times: dict[str, list[float]] = {k: [] for k in files}
        docs: dict[str, dict] = {}
        preds: dict[str, np.ndarray] = {}
        for r in range(args.rounds):
            for kind, path in files.items():
                out = tmp / f"{kind}-{r}"
                t = time.perf_counter()
                audit(out, dataset, str(root) if root else None, target, protected, model_file=path,
                      input_size=SIZE, normalize="0.5,0.5,0.5/0.5,0.5,0.5", split="test", explain=0, n_boot=1000)
                times[kind].append(time.perf_counter() - t)
                docs[kind] = json.loads((out / "metrics.json").read_text())
                p = read_predictions(out / "predictions.csv")
                preds[kind] = np.column_stack([p.pred, p.score])
    same_decisions = {k: bool((preds[k][:, 0] == preds["torchscript"][:, 0]).all()) for k in files}
    max_score_diff = {k: float(np.abs(preds[k][:, 1] - preds["torchscript"][:, 1]).max()) for k in files}
    same_metrics = {k: all((a is None and b is None) or (a is not None and b is not None and abs(a - b) < 1e-12)
                           for a, b in ((docs[k]["metrics"][m], docs["torchscript"]["metrics"][m])
                                        for m in docs[k]["metrics"]))
                    for k in files}
    median = {k: statistics.median(v) for k, v in times.items()}
    m = docs["torchscript"]["metrics"]
    n = docs["torchscript"]["n"]
    row = (f"| audit of one ResNet-18 from TorchScript, torch.export and ONNX | {dataset} {target} by {protected}, "
           f"{n} test images at {SIZE} px, 1,000 bootstrap replicates, median of {args.rounds} interleaved rounds | "
           + ", ".join(f"{k} {median[k]:.1f} s" for k in files)
           + f"; decisions equal: {all(same_decisions.values())}, metrics equal: {all(same_metrics.values())} "
           f"(accuracy {m['accuracy']:.4f}, DEO {m['equalized_odds_mean']:.4f}) | "
           + ", ".join(f"{k} {median[k] / median['torchscript']:.2f}" for k in ("export", "onnx")) + " |")
    write_result("audit_formats", {"dataset": dataset, "target": target, "protected": protected, "n": n,
                                   "train_images": args.train, "train_s": train_s, "seconds": times,
                                   "median_s": median, "same_decisions": same_decisions,
                                   "max_score_diff": max_score_diff, "same_metrics": same_metrics,
                                   "metrics": m}, row)


if __name__ == "__main__":
    main()
