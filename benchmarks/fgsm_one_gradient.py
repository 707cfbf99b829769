"""FGSM for a set of eps from one input gradient (facefair's ASAC) vs one gradient per eps.

FGSM's direction sign(grad_x CE(C(x), a)) does not depend on eps, so ASAC computes it once
per batch and applies every magnitude; the naive way recomputes it for each eps. Both arms
attack the same classifier on the same real batches, interleaved in rounds; the images must
come out identical, and the speed ratio should approach the number of non-zero eps.

    python benchmarks/fgsm_one_gradient.py --dataset celeba --root ../shared/data/celeba \\
        --target Smiling --protected Male --eps 0.01,0.001,0.03,0.05,0.1
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from _common import add_task_args, first_train_batches, task_config, task_fields, write_result

from facefair.attacks.fgsm import FGSM
from facefair.models import build_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_task_args(ap)
    ap.add_argument("--eps", default="0.01,0.001,0.03,0.05,0.1", help="non-zero magnitudes")
    ap.add_argument("--batches", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    eps = [float(e) for e in args.eps.split(",") if e]

    cfg = task_config(args, cache="auto")
    task, batches = first_train_batches(cfg, args.batches)
    torch.manual_seed(0)
    classifier = build_model(args.arch, n_groups=task.n_groups).eval()  # C: predicts the protected attribute
    if args.channels_last:
        classifier = classifier.to(memory_format=torch.channels_last)
    for p in classifier.parameters():
        p.requires_grad_(False)
    attack = FGSM(classifier)

    def one_gradient() -> list[torch.Tensor]:
        return [x for b in batches for x in attack.perturb(b.x, b.group, eps)]

    def per_eps() -> list[torch.Tensor]:
        return [attack.perturb(b.x, b.group, [e])[0] for b in batches for e in eps]

    a, b = one_gradient(), per_eps()
    order = [i * len(eps) + j for i in range(len(batches)) for j in range(len(eps))]
    max_diff = max(float((a[k] - b[k]).abs().max()) for k in order)
    times: dict[str, list[float]] = {"one_gradient": [], "per_eps": []}
    n = sum(len(bt.x) for bt in batches)
    for _ in range(args.rounds):
        for name, fn in (("one_gradient", one_gradient), ("per_eps", per_eps)):
            t = time.perf_counter()
            fn()
            times[name].append(n / (time.perf_counter() - t))
    one, per = statistics.median(times["one_gradient"]), statistics.median(times["per_eps"])
    result = {**task_fields(args), "eps": eps, "img_per_s": times, "one_gradient_median": one,
              "per_eps_median": per, "ratio": one / per, "max_abs_diff": max_diff}
    setting = (f"{args.dataset} {args.arch} {args.size}px bs{args.batch_size}, {len(eps)} non-zero eps "
               f"{{{', '.join(map(str, eps))}}}")
    row = (f"| FGSM set of eps: one gradient / one gradient per eps | {setting} | one gradient {one:.0f} "
           f"img/s, per eps {per:.0f} img/s (expected ratio {len(eps)}), same images (max abs diff "
           f"{max_diff:.1e}) | {one / per:.2f} |")
    write_result(f"fgsm_one_gradient_{args.dataset}_{args.arch}_{args.size}", result, row)


if __name__ == "__main__":
    main()
