"""FineFACE training cost over ERM on the same backbone, and the batched CAM against a loop.

Part 1: ERM and FineFACE step their own models on the same batches in one process,
interleaved in rounds (ERM, FineFACE, ERM, ...); the result is training images per second
of each and their ratio. Part 2: the CAMs of a batch computed by one einsum (what facefair
does) against the published code's per-image loop (two matrix products per image), on the
same feature maps; the two must agree.

    python benchmarks/fineface_cost.py --dataset celeba --root ../shared/data/celeba \\
        --target Smiling --protected Male --arch resnet18 --size 64 --bf16 --channels-last
"""

from __future__ import annotations

import argparse
import statistics
import time

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

from facefair.models.attention import class_activation_map, reference_cam_loop


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_task_args(ap)
    ap.add_argument("--batches", type=int, default=4, help="batches per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--width", type=int, default=1024, help="FineFACE descriptor length C_v")
    ap.add_argument("--cam-batch", type=int, default=256)
    args = ap.parse_args()

    cfg = task_config(args)
    task, batches = first_train_batches(cfg, args.batches)
    arms = {}
    for name, options in (("erm", {}), ("fineface", {"width": args.width})):
        method, model, ctx = stepping(cfg, task, name, options)
        method.train_step(model, batches[0], ctx)  # warm-up
        arms[name] = (method, model, ctx)
    times = step_rounds(arms, batches, args.rounds)
    n_img = args.batch_size * len(batches)
    ips = {k: n_img / statistics.median(v) for k, v in times.items()}
    ratio = ips["erm"] / ips["fineface"]

    # part 2: batched CAM vs per-image loop on the deepest expert's maps of real images
    _, model, _ = arms["fineface"]
    model.eval()
    x = torch.cat([b.x for b in batches])[: args.cam_batch]
    with torch.no_grad():
        out = model.run_experts(x, experts=[model.n_experts - 1])
    n = model.n_experts - 1
    fmap, logits, clf = out.maps[n].float().contiguous(), out.logits[n], model.classifiers[n]
    cam_t = {"batched": [], "loop": []}
    for _ in range(args.rounds):
        t = time.perf_counter()
        with torch.no_grad():
            fast = class_activation_map(fmap, clf.class_weights(logits.argmax(1)))
        cam_t["batched"].append(time.perf_counter() - t)
        t = time.perf_counter()
        with torch.no_grad():
            slow = reference_cam_loop(fmap, logits.argmax(1), clf.fc1.weight.float(), clf.fc2.weight.float())
        cam_t["loop"].append(time.perf_counter() - t)
    err = float((fast - slow).abs().max() / slow.abs().max())
    cam_speedup = statistics.median(cam_t["loop"]) / statistics.median(cam_t["batched"])

    result = {**task_fields(args), "width": args.width, "seconds": times, "train_img_per_s": ips,
              "erm_over_fineface": ratio,
              "cam": {"batch": len(x), "map_shape": list(fmap.shape), "seconds": cam_t,
                      "speedup": cam_speedup, "max_rel_diff": err}}
    setting = (f"{args.dataset} {args.arch} {args.size}px bs{args.batch_size}, C_v {args.width}"
               f"{' bf16' if args.bf16 else ''}{' channels_last' if args.channels_last else ''}")
    row = (f"| FineFACE iteration / ERM step | {setting} | ERM {ips['erm']:.0f} img/s, FineFACE "
           f"{ips['fineface']:.0f} img/s; batched CAM {cam_speedup:.0f}x faster than a per-image loop "
           f"({len(x)} maps, max rel. diff {err:.1e}) | {ratio:.2f} |")
    write_result(f"fineface_cost_{args.dataset}_{args.arch}_{args.size}_w{args.width}", result, row)


if __name__ == "__main__":
    main()
