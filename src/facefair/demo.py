"""``facefair demo``: the whole mission on the synthetic biased faces, ending in a report.

The dataset plants a bias: in training, smiling correlates with skin tone (rho = 0.8); in
val and test they are independent, so a model that learnt the shortcut shows TPR/FPR gaps
between the tone groups on test. The demo then

1. trains the base model (ERM) and shows the gap;
2. mitigates it: ASAC fine-tunes the base on adversarial counterfactuals; reweighting and
   adversarial debiasing fine-tune it too; FineFACE and domain-independent training start
   from scratch (their models differ);
3. evaluates every run with bootstrap intervals, measures ASAC's robustness curves, draws
   Integrated Gradients (base beside ASAC) and CAMs (FineFACE's experts beside the base's
   Grad-CAM);
4. writes ``report.html`` (self-contained) and prints the metric table and its path.

Every step resumes: rerunning the demo reuses finished runs. ``quick`` is the test's
smaller setting; the full one stays well under 10 minutes on 2 CPU cores
(benchmarks/demo_time.py records it).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

from .analysis.robustness import robustness
from .atomic import write_json
from .config import TrainConfig
from .evaluation import evaluate
from .explain import explain_run
from .metrics import FairnessReport
from .mitigation import mitigate
from .report.html import write_report
from .runfolder import RunFolder
from .trainer import train

log = logging.getLogger(__name__)

#: (run name, what it is, how it is made): "mitigate" fine-tunes the base, "train" starts afresh
STEPS: tuple[tuple[str, str, str, str, dict[str, Any]], ...] = (
    ("base", "Base model (ERM)", "train", "erm", {}),
    ("asac", "ASAC (FGSM, ascending curriculum)", "mitigate", "asac", {"eps": (0.01, 0.1)}),
    ("fineface", "FineFACE (3 experts, no group labels)", "train", "fineface",
     {"width": 128, "hidden": 64, "head_lr": 3e-3, "backbone_lr": 3e-3}),
    ("reweight", "Reweighting (Wang et al. 2020)", "mitigate", "reweight", {}),
    ("adversarial_debias", "Adversarial debiasing (Zhang et al. 2018)", "mitigate", "adversarial_debias", {}),
    ("domain_independent", "Domain-independent (Wang et al. 2020)", "train", "domain_independent", {}),
)
SUMMARY = ("accuracy", "equalized_odds_mean", "equal_opportunity_diff", "demographic_parity_diff",
           "worst_group_accuracy")


def demo_config(quick: bool = False, progress: bool = True) -> TrainConfig:
    """The demo's base-model configuration (quick: a smaller dataset for tests)."""
    n = {"n_train": 1500, "n_val": 400, "n_test": 600} if quick else {"n_train": 4000, "n_val": 1000, "n_test": 2000}
    return TrainConfig(dataset="synthetic", target="smile", protected="group",
                       dataset_options={**n, "correlation": 0.8}, arch="tiny", size=48,
                       epochs=3 if quick else 8, batch_size=64, lr=3e-3, progress=progress)


def _run(name: str, how: str, method: str, options: dict[str, Any], base_cfg: TrainConfig, out: Path,
         quick: bool) -> None:
    """Train or fine-tune one step's run, resuming a finished or cut one."""
    folder = out / name
    resume = RunFolder(folder).has_config()
    if how == "mitigate":
        mitigate(method, out / "base", folder, options, resume=resume,
                 epochs=1 if quick else 3, progress=base_cfg.progress)
        return
    cfg = dataclasses.replace(base_cfg, method=method, method_options=dict(options))
    # FineFACE from scratch: the base's Adam and rate for every part (the paper's small
    # backbone rate is for a pretrained backbone; with it a fresh one learns only the shortcut)
    train(cfg, folder, resume=resume)


def summary_table(reports: dict[str, FairnessReport]) -> str:
    """One line per run: accuracy and the gaps the papers lead with."""
    heads = ("accuracy", "DEO (eq. odds mean)", "DEOp (TPR gap)", "DDP (selection gap)", "worst-group acc")
    width = max(len(k) for k in reports) + 2
    lines = [" " * width + "  ".join(f"{h:>19}" for h in heads)]
    for name, r in reports.items():
        lines.append(f"{name:<{width}}" + "  ".join(f"{r.overall[k]:>19.3f}" for k in SUMMARY))
    return "\n".join(lines)


def _report(out: Path, names: list[str], progress_note: str) -> Path:
    """``report.html`` over the runs made so far; ``progress_note`` says what is still missing."""
    note = ("Synthetic cartoon faces; in training, smiling correlates with skin tone (rho = 0.8); in test they "
            "are independent. The base model's TPR/FPR gaps between tone groups are the shortcut it learnt; "
            "each method below tries to shrink them. Intervals: 95% bootstrap over the test split.")
    if progress_note:
        note += f" Demo in progress: {progress_note}."
    return write_report([str(out / name) for name in names], out / "report.html",
                        title="facefair demo: a planted bias, measured and mitigated", note=note)


def run_demo(out: str | Path = "demo-output", quick: bool = False, progress: bool = True) -> Path:
    """Run the demo into ``out``; returns the report's path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    base_cfg = demo_config(quick, progress)
    t0 = time.perf_counter()
    reports: dict[str, FairnessReport] = {}
    seconds: dict[str, float] = {}
    for i, (name, what, how, method, options) in enumerate(STEPS, start=1):
        log.info(f"[{i}/{len(STEPS) + 2}] {what} ({how} '{method}') -> {out / name}")
        t = time.perf_counter()
        _run(name, how, method, options, base_cfg, out, quick)
        reports[name] = evaluate(out / name, "test", n_boot=200 if quick else 1000, progress=progress)
        seconds[name] = time.perf_counter() - t
        if name == "base":
            log.info("\nThe planted bias, base model on the test split (protected attribute: skin-tone group):")
            log.info(reports[name].format_table() + "\n")
        # a report after every step: a demo cut short leaves a page to look at, saying how far it got
        _report(out, list(reports), f"{i} of {len(STEPS)} runs done; robustness curves and explanations not yet")
    log.info(f"[{len(STEPS) + 1}/{len(STEPS) + 2}] robustness curves of ASAC and explanations")
    t = time.perf_counter()
    robustness(out / "asac", out / "base", n=128 if quick else 512)
    n_img = 3 if quick else 6
    explain_run(out / "asac", "ig", compare=out / "base", n=n_img, steps=16 if quick else 32)
    explain_run(out / "fineface", "cam", compare=out / "base", n=n_img)
    explain_run(out / "base", "cam", n=n_img)
    seconds["robustness and explanations"] = time.perf_counter() - t
    log.info(f"[{len(STEPS) + 2}/{len(STEPS) + 2}] report")
    t = time.perf_counter()
    path = _report(out, [name for name, *_ in STEPS], "")
    seconds["report"] = time.perf_counter() - t
    seconds["total"] = time.perf_counter() - t0
    write_json(out / "timings.json", {"quick": quick, "seconds": seconds})  # benchmarks/demo_time.py reads it
    log.info("\nEvery run on the test split (lower gaps are fairer):")
    log.info(summary_table(reports))
    best = min((k for k in reports if k != "base"), key=lambda k: reports[k].overall["equalized_odds_mean"])
    b, m = reports["base"].overall, reports[best].overall
    log.info(f"\nLargest bias reduction: {best}: DEO {b['equalized_odds_mean']:.3f} -> {m['equalized_odds_mean']:.3f}, "
        f"accuracy {b['accuracy']:.3f} -> {m['accuracy']:.3f}")
    log.info(f"\nreport: {path.resolve()}")
    log.info(f"runs: {out.resolve()} (one folder per method: config.json, metrics.json, predictions.csv, log.jsonl)")
    log.info(f"took {seconds['total']:.0f} s")
    return path
