"""``--scale gpu`` plans what each paper ran: every planned GPU-scale run of every experiment
file, resolved to its full training config, compared field by field with the papers' settings
written down here (ASAC section 5 "implementation"; FineFACE section 4.2 and the SPEC). A file
that drifts from its paper fails here."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from facefair.config import TrainConfig
from facefair.experiments import find_experiments, load_experiment, plan
from facefair.trainer import build_optimizer

#: ASAC: ResNet-18 at 224 px, Adam 1e-3 (betas 0.9/0.999, eps 1e-8), clip 1.0, 50 base epochs
ASAC_BASE = {"size": 224, "optimizer": "adam", "lr": 1e-3, "clip": 1.0, "epochs": 50, "weight_decay": 0.0,
             "pretrained": None, "weights": None}
#: ... and 10 fine-tuning epochs at the same rate
ASAC_FINETUNE = {"size": 224, "optimizer": "adam", "lr": 1e-3, "clip": 1.0, "epochs": 10, "weight_decay": 0.0}
#: eps {0, 0.01, 0.001}, alpha 0.5, easy-first curriculum (Tables 4-6 vary one of them each)
ASAC_OPTIONS = {"eps": [0.0, 0.01, 0.001], "alpha": 0.5, "order": "ascending"}
#: FineFACE: ImageNet ResNet-50, 448 px, SGD momentum 0.9, weight decay 5e-4, batch 16, cosine,
#: epochs by early stopping on validation; every comparison row on the same footing
FINEFACE_ALL = {"arch": "resnet50", "pretrained": "imagenet", "size": 448, "optimizer": "sgd", "momentum": 0.9,
                "weight_decay": 5e-4, "batch_size": 16, "schedule": "cosine", "select": "accuracy"}
#: FineFACE's own: lr 0.002 heads, 0.0002 pretrained backbone, C_v 1024, t 0.5, stages 3-5, ELU, GMP
FINEFACE_OPTIONS = {"head_lr": 0.002, "backbone_lr": 0.0002, "width": 1024, "threshold": 0.5,
                    "stages": [3, 4, 5], "activation": "elu", "pooling": "max", "concat_weight": 2.0}
#: the baselines: lr 0.002 for the heads, a tenth for the backbone (FineFACE's own ratio)
FINEFACE_BASELINE = {"lr": 0.002, "backbone_lr_mult": 0.1}


def _resolve(exp, tmp_path: Path) -> list[tuple[object, TrainConfig]]:
    """Every planned GPU-scale run with its config; a fine-tune's base folder gets the base's
    config.json and a stand-in best.pt (a ResNet-50 at 448 px is not trained in a test)."""
    out = []
    for p in plan(exp, "gpu", tmp_path / "out", tmp_path / "data"):
        if p.choice is not None:
            continue
        if p.base is not None and not (p.base / "config.json").is_file():
            base = next(cfg for q, cfg in out if q.folder == p.base)
            (p.base / "checkpoints").mkdir(parents=True, exist_ok=True)
            base.save(p.base / "config.json")
            (p.base / "checkpoints" / "best.pt").write_bytes(b"")
        out.append((p, p.config()))
    return out


def _check(cfg: TrainConfig, want: dict, where: str) -> None:
    got = cfg.to_dict()
    for key, value in want.items():
        assert got[key] == pytest.approx(value) if isinstance(value, float) else got[key] == value, \
            f"{where}: {key} is {got[key]!r}, the paper's is {value!r}"


@pytest.mark.parametrize("name", sorted(find_experiments()))
def test_gpu_scale_plans_the_papers_setting(name: str, tmp_path: Path) -> None:
    exp = load_experiment(find_experiments()[name])
    runs = _resolve(exp, tmp_path)
    assert runs, f"{name}: no GPU-scale run planned"
    file_runs = {r.id: r for r in exp.runs}
    for p, cfg in runs:
        where = f"{name} run {p.run_id} seed {p.seed}"
        if cfg.method == "postprocess":  # nothing trained: the base's own config, thresholded
            _check(cfg, ASAC_BASE if name.startswith("asac") else FINEFACE_ALL, where)
            continue
        if name.startswith("asac"):
            assert cfg.arch == p.grid.get("arch", "resnet18"), where
            if p.base is None:
                _check(cfg, ASAC_BASE, where)
            else:
                _check(cfg, ASAC_FINETUNE, where)
            if cfg.method == "asac":
                ablated = set(file_runs[p.run_id].options)
                opts = {k: v for k, v in ASAC_OPTIONS.items() if k not in ablated}
                for key, value in opts.items():
                    got = cfg.method_options.get(key, value)
                    got = list(got) if isinstance(got, tuple) else got
                    assert got == value, f"{where}: ASAC {key} is {got!r}, the paper's is {value!r}"
        else:
            _check(cfg, FINEFACE_ALL, where)
            assert cfg.patience is not None and cfg.patience >= 1, f"{where}: no early stopping"
            if cfg.method == "fineface":
                from facefair.methods import get_method

                opts = get_method("fineface", cfg.method_options).options.to_dict()
                for key, value in FINEFACE_OPTIONS.items():
                    got = list(opts[key]) if isinstance(opts[key], tuple) else opts[key]
                    assert got == value, f"{where}: FineFACE {key} is {got!r}, the paper's is {value!r}"
                assert cfg.backbone_lr_mult == 1.0, where
            else:
                _check(cfg, FINEFACE_BASELINE, where)


def test_adam_is_the_papers_adam() -> None:
    """ASAC: Adam with betas 0.9/0.999 and eps 1e-8, whatever torch's defaults become."""
    opt = build_optimizer(TrainConfig(optimizer="adam", lr=1e-3), [{"params": [torch.nn.Parameter(torch.zeros(1))]}])
    group = opt.param_groups[0]
    assert isinstance(opt, torch.optim.Adam) and not isinstance(opt, torch.optim.AdamW)
    assert group["betas"] == (0.9, 0.999) and group["eps"] == 1e-8 and group["lr"] == 1e-3


def test_a_drifting_file_fails(tmp_path: Path) -> None:
    """The check bites: a FineFACE file whose GPU scale says Adam is caught."""
    src = find_experiments()["fineface_table2"].read_text()
    drifted = tmp_path / "fineface_table2.toml"
    drifted.write_text(src.replace('optimizer = "sgd"', 'optimizer = "adam"', 1))
    exp = load_experiment(drifted)
    with pytest.raises(AssertionError, match="optimizer"):
        for p, cfg in _resolve(exp, tmp_path):
            _check(cfg, FINEFACE_ALL, p.run_id)
