"""The generative comparison methods' cost against ERM: making the generated pool once, and
training steps, on the same batches in one process, interleaved in rounds.

Each arm sets itself up as the trainer would (the pool made from the given generator over the
benchmark's training images, so the pool-to-train ratio is the method's own), then all arms
step the same batches in rounds (ERM, consistency, g-SMOTE, ...). The result per method:
setup seconds, training images per second, and its step time over ERM's; adaptive g-SMOTE
adds one validation pass per epoch, counted at the epoch length given.

    python benchmarks/generative_cost.py --dataset celeba --root ../shared/data/celeba \\
        --target Smiling --protected Male --arch resnet18 --size 64 \\
        --generator gens/celeba64 --labeler-run runs/base
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from _common import (
    add_task_args,
    first_train_batches,
    step_rounds,
    stepping,
    task_config,
    task_fields,
    write_result,
)

from facefair.data.loader import SplitImages
from facefair.inference import load_run
from facefair.methods import RunSetup


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_task_args(ap)
    ap.add_argument("--generator", required=True, help="a generator folder or TorchScript file")
    ap.add_argument("--labeler-run", default=None, help="a trained run on the target (gan_debias's labeller); "
                                                        "without it gan_debias is left out")
    ap.add_argument("--batches", type=int, default=6, help="batches per round (the arms' training images)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--epoch-steps", type=int, default=93, help="steps an epoch, for adaptive g-SMOTE's "
                                                             "validation pass (93: 6,000 images at 64)")
    ap.add_argument("--val", type=int, default=1000, help="validation images of that pass")
    args = ap.parse_args()

    cfg = task_config(args)
    task, batches = first_train_batches(cfg, args.batches)
    train_ds = SplitImages(task, task.indices("train")[: cfg.batch_size * args.batches], cfg.size)
    val_ds = SplitImages(task, task.indices("val", args.val, 0), cfg.size)
    gen = {"generator": args.generator}
    arms_spec = [("erm", {}), ("consistency", {}), ("gsmote", gen), ("gsmote_adaptive", {**gen, "adaptive": True}),
                 ("generative_views", gen)]
    if args.labeler_run:
        arms_spec.append(("gan_debias", {**gen, "labeler_run": args.labeler_run}))
    arms, setup_s = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, options in arms_spec:
            method, model, ctx = stepping(cfg, task, "gsmote" if name == "gsmote_adaptive" else name, options)
            run = RunSetup(cfg, task, torch.device("cpu"), Path(tmp) / name, train_ds, load_run, val_ds)
            run.out.mkdir()
            t = time.perf_counter()
            method.setup(model, run)
            setup_s[name] = time.perf_counter() - t
            method.train_step(model, batches[0], ctx)  # warm-up (adaptive g-SMOTE: its first validation pass)
            arms[name] = (method, model, ctx)
        val_pass = 0.0
        if "gsmote_adaptive" in arms:
            method, model, _ = arms["gsmote_adaptive"]
            t = time.perf_counter()
            method.validation_losses(model)
            val_pass = time.perf_counter() - t
        times = step_rounds(arms, batches, args.rounds)
    n_img = cfg.batch_size * len(batches)
    step = {k: statistics.median(v) / len(batches) for k, v in times.items()}
    per_epoch = {k: (s * args.epoch_steps + (val_pass if k == "gsmote_adaptive" else 0.0)) / (step["erm"] * args.epoch_steps)
                 for k, s in step.items()}
    extra = {name: getattr(arm[0], "per_batch", 0) or cfg.batch_size * getattr(arm[0].options, "views", 0)
             for name, arm in arms.items()}  # consistency's and generative views' extra images per batch
    result = {**task_fields(args), "generator": args.generator, "train_images": n_img, "seconds": times,
              "setup_seconds": setup_s, "step_seconds": step, "extra_per_batch": extra,
              "validation_pass_seconds": val_pass, "epoch_over_erm": per_epoch,
              "train_img_per_s": {k: cfg.batch_size / s for k, s in step.items()}}
    shown = ", ".join(f"{k} {per_epoch[k]:.2f}x (+{extra[k]} generated/batch, setup {setup_s[k]:.0f} s)"
                      for k in arms if k != "erm")
    row = (f"| generative methods' epoch / ERM epoch | {args.dataset} {args.arch} {args.size}px bs{args.batch_size}, "
           f"{n_img} training images | ERM {cfg.batch_size / step['erm']:.0f} img/s; {shown} | "
           f"{max(per_epoch.values()):.2f} (most) |")
    write_result(f"generative_cost_{args.dataset}_{args.arch}_{args.size}", result, row)


if __name__ == "__main__":
    main()
