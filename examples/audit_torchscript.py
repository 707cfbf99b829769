"""Audit a model trained outside facefair, end to end.

A torchvision ResNet-18 is trained with a plain PyTorch loop on facefair's synthetic faces (as
any lab would train its own model), saved as TorchScript, and audited by ``facefair audit`` on a
CSV manifest of the test faces. Everything is written inside OUT (default ``audit-example``):

    python examples/audit_torchscript.py [OUT]

docs/reports/audit-torchscript-resnet18.html is its report (64 test faces, 32 px).
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
import torchvision
from PIL import Image
from torch import nn

from facefair.data.synthetic import make_synthetic


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=False)  # a new folder: nothing of the user's is overwritten
    torch.manual_seed(0)
    data = make_synthetic(n_train=1200, n_val=48, n_test=64, size=32, correlation=0.0)
    i = np.flatnonzero(data.split == 0)
    x = torch.from_numpy(data.images[i]).permute(0, 3, 1, 2).float() / 255
    y = torch.from_numpy(data.labels["smile"][i]).long()
    model = torchvision.models.resnet18(num_classes=2)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    for _ in range(3):
        for j in range(0, len(x), 64):
            loss = nn.functional.cross_entropy(model((x[j:j + 64] - 0.5) / 0.5), y[j:j + 64])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    torch.jit.trace(model, torch.rand(2, 3, 32, 32)).save(str(out / "resnet18_smile.pt"))
    (out / "img").mkdir()
    with open(out / "manifest.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "smiling", "tone"])
        for k in np.flatnonzero(data.split == 2):
            name = f"img/{data.ids[k]}.png"
            Image.fromarray(data.images[k]).save(out / name)
            w.writerow([name, ["no", "yes"][data.labels["smile"][k]], ["light", "dark"][data.labels["group"][k]]])
    subprocess.run([sys.executable, "-m", "facefair", "audit", "--model", str(out / "resnet18_smile.pt"),
                    "--input-size", "32", "--normalize", "0.5,0.5,0.5/0.5,0.5,0.5", "--dataset", "manifest",
                    "--manifest", str(out / "manifest.csv"), "--target", "smiling", "--protected", "tone",
                    "--positive", "yes", "--out", str(out / "audit"), "--explain", "4"], check=True)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "audit-example"))
