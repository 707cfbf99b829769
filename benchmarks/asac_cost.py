"""ASAC fine-tuning cost: one ASAC epoch over one ERM epoch on the same images, vs pass counting.

Both arms step the same ResNet on the same batches in one process, interleaved in rounds
(ERM, ASAC-FGSM, ASAC-PGD, ERM, ...). Expected ratio, counting passes in units of one
forward of k images (a backward with weight gradients = 2, a backward to the input only,
as the attack needs, = 1):
  ERM step                 1 + 2                                   = 3
  ASAC-FGSM, l eps         attack 1 + 1, DS l, l micro-steps x 2 x 3 = 2 + 7 l
  ASAC-PGD, s steps        s (l - 1) (1 + 1) + 7 l                   (eps = 0 needs no attack)

    python benchmarks/asac_cost.py --dataset celeba --root ../shared/data/celeba \\
        --target Smiling --protected Male --arch resnet18 --size 64 --bf16 --channels-last
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from _common import add_task_args, first_train_batches, task_config, task_fields, write_result

from facefair.methods import get_method
from facefair.models import build_model
from facefair.models.protected import ProbeClassifier, freeze
from facefair.trainer import _Context, build_optimizer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_task_args(ap)
    ap.add_argument("--batches", type=int, default=6, help="batches per round (the 'epoch')")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--eps", default="0,0.01,0.001")
    ap.add_argument("--pgd-steps", type=int, default=10)
    args = ap.parse_args()

    cfg = task_config(args)
    task, batches = first_train_batches(cfg, args.batches)
    torch.manual_seed(0)
    model = build_model(args.arch, n_groups=task.n_groups)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    import copy

    clf = freeze(ProbeClassifier(freeze(copy.deepcopy(model)), task.n_groups))
    arms = {"erm": get_method("erm")}
    for attack in ("fgsm", "pgd"):
        m = get_method("asac", {"attack": attack, "eps": args.eps, "steps": str(args.pgd_steps)})
        m.use_classifier(clf, "probe", torch.device("cpu"))
        arms[f"asac_{attack}"] = m
    opt = build_optimizer(cfg, [{"params": list(model.parameters())}])
    ctx = _Context(model, opt, cfg, torch.device("cpu"), torch.Generator().manual_seed(0))
    times: dict[str, list[float]] = {k: [] for k in arms}
    arms["erm"].train_step(model, batches[0], ctx)  # warm-up
    for _ in range(args.rounds):
        for name, method in arms.items():
            t = time.perf_counter()
            for b in batches:
                method.train_step(model, b, ctx)
            times[name].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    n_eps = len(arms["asac_fgsm"].options.eps)
    expected = {"asac_fgsm": (2 + 7 * n_eps) / 3,
                "asac_pgd": (args.pgd_steps * (n_eps - 1) * 2 + 7 * n_eps) / 3}
    ratios = {k: med[k] / med["erm"] for k in expected}
    of_count = {k: ratios[k] / expected[k] for k in expected}
    precision = "bf16" if args.bf16 else "fp32"
    result = {**task_fields(args), "precision": precision, "eps": list(arms["asac_fgsm"].options.eps),
              "pgd_steps": args.pgd_steps, "seconds": times, "median_seconds": med,
              "measured_ratio": ratios, "expected_ratio": expected, "measured_over_expected": of_count}
    setting = (f"{args.dataset} {args.arch} {args.size}px bs{args.batch_size}, eps {{{args.eps}}}, "
               f"PGD {args.pgd_steps} steps, {precision}{' channels_last' if args.channels_last else ''}, "
               f"{args.rounds} rounds of {args.batches} batches")
    row = (f"| ASAC epoch / ERM epoch | {setting} | FGSM {ratios['asac_fgsm']:.2f}x (count "
           f"{expected['asac_fgsm']:.2f}x), PGD {ratios['asac_pgd']:.2f}x (count {expected['asac_pgd']:.2f}x) "
           f"| of the count: FGSM {of_count['asac_fgsm']:.2f}, PGD {of_count['asac_pgd']:.2f} |")
    write_result(f"asac_cost_{args.dataset}_{args.arch}_{args.size}_{precision}", result, row)


if __name__ == "__main__":
    main()
