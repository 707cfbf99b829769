"""``facefair generator train`` and ``facefair generator sample``: the face generator that the
generative comparison methods (gan_debias, gsmote, generative_views) read."""

from __future__ import annotations

import argparse
from typing import Any

from .common import add_data_args, dataset_options


def add_parsers(sub: Any) -> None:
    from ..generative.config import GeneratorConfig

    gen = sub.add_parser("generator", help="train or sample the face generator of the generative methods")
    gsub = gen.add_subparsers(dest="generator_command", metavar="ACTION", required=True)
    defaults = GeneratorConfig()

    p = gsub.add_parser("train", help="train a DCGAN generator and its encoder on a dataset's training split")
    add_data_args(p, task=False)
    p.add_argument("--out", required=True, help="the generator folder (resumes when it holds this config's run)")
    p.add_argument("--size", type=int, default=defaults.size, help="image side: 32, 64 or 128")
    p.add_argument("--latent-dim", type=int, default=defaults.latent_dim)
    p.add_argument("--width", type=int, default=defaults.width, help="channels of the outermost convolutions")
    p.add_argument("--epochs", type=int, default=defaults.epochs)
    p.add_argument("--batch-size", type=int, default=defaults.batch_size)
    p.add_argument("--lr", type=float, default=defaults.lr)
    p.add_argument("--rec-weight", type=float, default=defaults.rec_weight,
                   help="the encoder's pixel reconstruction weight |G(E(x)) - x|")
    p.add_argument("--latent-weight", type=float, default=defaults.latent_weight,
                   help="the encoder's latent regression weight |E(G(z)) - z|^2")
    p.add_argument("--max-train", type=int, default=None, help="a seeded subset of the training split")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quality-n", type=int, default=defaults.quality_n,
                   help="images per side of the per-epoch FD-Lite0 (0: skip)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: one per usable core)")
    p.add_argument("--checkpoint-every", type=int, default=0, help="also checkpoint every N steps")
    p.add_argument("--use-existing-folder", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_train)

    p = gsub.add_parser("sample", help="write a grid of a generator's faces (a folder or a TorchScript file)")
    p.add_argument("generator", help="a generator folder or TorchScript file")
    p.add_argument("--out", required=True, help="the PNG to write (a new file)")
    p.add_argument("--n", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_sample)


def cmd_train(args: argparse.Namespace) -> int:
    from ..generative import GeneratorConfig, train_generator

    cfg = GeneratorConfig(dataset=args.dataset or "synthetic", root=args.root, dataset_options=dataset_options(args),
                          size=args.size, latent_dim=args.latent_dim, width=args.width, epochs=args.epochs,
                          batch_size=args.batch_size, lr=args.lr, rec_weight=args.rec_weight,
                          latent_weight=args.latent_weight, max_train=args.max_train, seed=args.seed,
                          quality_n=args.quality_n, threads=args.threads, progress=not args.no_progress,
                          checkpoint_every=args.checkpoint_every)
    row = train_generator(cfg, args.out, use_existing=args.use_existing_folder)
    shown = {k: v for k, v in row.items() if k in ("fd_lite0", "fd_lite0_floor", "val_rec_l1")}
    print(f"generator in {args.out}: " + ", ".join(f"{k} {v:.4g}" for k, v in shown.items()))
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from pathlib import Path

    import torch
    from torchvision.utils import save_image

    from ..atomic import atomic_open
    from ..errors import ConfigError
    from ..generative import load_generator

    out = Path(args.out)
    if out.exists():
        raise ConfigError(f"{out} exists; sample writes a new file")
    gen = load_generator(args.generator)
    x = gen.decode(gen.sample_latent(args.n, torch.Generator().manual_seed(args.seed)))
    with atomic_open(out, "wb") as fh:
        save_image(x, fh, nrow=8, padding=1, format="png")
    print(f"{args.n} faces of {gen.source} in {out}")
    return 0

