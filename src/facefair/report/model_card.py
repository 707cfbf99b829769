"""``MODEL_CARD.md`` of an audit, in the Hugging Face model-card layout: YAML metadata (a
``model-index`` with the measured metrics) and sections for the model, intended use,
evaluation data, per-group results with intervals, bias, risks and limitations, each filled
from what the audit measured, and a list of what it did not measure.

Strings in the YAML are written as JSON strings (valid YAML), so a group or file name cannot
break the metadata.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ..atomic import write_text
from ..runfolder import RunFolder

#: the metrics the metadata lists, with their names on the card
CARD_METRICS = (("accuracy", "Accuracy"), ("equalized_odds_mean", "DEO: mean of the TPR and FPR gaps"),
                ("equal_opportunity_diff", "DEOp: TPR gap"), ("demographic_parity_diff", "DDP: selection-rate gap"),
                ("equalized_odds_sum", "DEOdds: TPR gap + FPR gap"), ("worst_group_accuracy", "Worst-group accuracy"),
                ("accuracy_ratio", "Max/Min group accuracy"), ("degree_of_bias", "DoB: std of group accuracies"),
                ("auc", "ROC AUC"))
#: fewer images than this in a group: its rates are called imprecise
SMALL_GROUP = 100


def _q(text: Any) -> str:
    return json.dumps(str(text))


def _v(x: Any, digits: int = 4) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _ci(row: dict[str, Any], key: str) -> str:
    ci = row.get(f"{key}_ci")
    return f"{_v(row.get(key))} [{_v(ci[0])}, {_v(ci[1])}]" if ci else _v(row.get(key))


def model_card(audit: dict[str, Any], metrics: dict[str, Any], regions: dict[str, Any] | None = None,
               version: str = "") -> str:
    """The card's text from an audit's ``audit.json``, its ``metrics.json`` and (where measured)
    its ``regions/regions.json``."""
    m, ci = metrics["metrics"], metrics.get("ci") or {}
    model = audit.get("model", {})
    name = Path(str(model.get("file") or model.get("factory") or "model")).name
    target, protected = audit.get("target"), audit.get("protected")
    present = [(k, label) for k, label in CARD_METRICS if m.get(k) is not None]
    meta = ["---", "library_name: pytorch", "tags:", "  - facefair-audit", "  - fairness", "model-index:",
            f"  - name: {_q(name)}", "    results:", "      - task:", '          type: "image-classification"',
            f"          name: {_q(f'{target} (protected attribute: {protected})')}", "        dataset:",
            f"          name: {_q(audit.get('dataset'))}", f"          type: {_q(audit.get('dataset'))}",
            f"          split: {_q(audit.get('split'))}", "        metrics:"]
    for k, label in present:
        meta += [f"          - type: {_q(k)}", f"            name: {_q(label)}", f"            value: {m[k]:.6f}"]
    meta += ["---", ""]
    groups = metrics.get("groups", [])
    level = 100 * float(metrics.get("ci_level", 0.95))
    lines = [f"# Model card: {name}", "",
             (f"Written by `facefair audit` {version} from what the audit measured on {metrics.get('n')} "
             f"{audit.get('dataset')} images; every number below is in the audit folder's `metrics.json`."), "",
             "## Model details", "",
             f"- Format: {model.get('kind')}; file `{model.get('file', '')}`"
             + (f", SHA-256 `{model.get('sha256')}`" if model.get("sha256") else ""),
             f"- Input: {audit.get('input_size')} x {audit.get('input_size')} RGB, normalisation "
             f"{(audit.get('normalize') or {}).get('name')}; output read as: "
             + ("two logits" if audit.get("output") is None else f"column {audit.get('output')} (sigmoid)"),
             f"- Predicts: {target} (positive class: {audit.get('positive')})", "",
             "## Intended use", "",
             (f"A classifier of the facial attribute {target}. The audit does not know what the model is for; its "
             f"measurements bear on uses that treat the groups of {protected} alike. The owner should state the "
             "intended use and the uses it must not be put to here."), "",
             "## Evaluation data", "",
             (f"- Dataset: {audit.get('dataset')} at `{audit.get('root')}`, split {audit.get('split')}, "
             f"{metrics.get('n')} images scored"),
             f"- Groups ({protected}): " + ", ".join(f"{g['group']} ({g['n']} images)" for g in groups), "",
             "## Results per group", "",
             f"Values with their {level:.0f}% bootstrap interval over images, where the audit drew one.", "",
             "| group | images | accuracy | TPR | FPR | selection rate |", "|---|---|---|---|---|---|"]
    for g in groups:
        lines.append(f"| {g['group']} | {g['n']} | {_ci(g, 'accuracy')} | {_ci(g, 'tpr')} | {_v(g.get('fpr'))} | "
                     f"{_v(g.get('selection_rate'))} |")
    lines += ["", "| metric | value |", "|---|---|"]
    for k, label in present:
        interval = f" [{_v(ci[k][0])}, {_v(ci[k][1])}]" if ci.get(k) else ""
        lines.append(f"| {label} | {_v(m[k])}{interval} |")
    lines += ["", "## Bias", ""]
    accs = [(g["group"], g.get("accuracy")) for g in groups if g.get("accuracy") is not None]
    if len(accs) >= 2:
        worst, best = min(accs, key=lambda t: t[1]), max(accs, key=lambda t: t[1])
        lines.append(f"- Accuracy is lowest for {worst[0]} ({_v(worst[1])}) and highest for {best[0]} "
                     f"({_v(best[1])}): a gap of {_v(best[1] - worst[1])}.")
    for k, what in (("equal_opportunity_diff", "true positive rates (DEOp)"),
                    ("demographic_parity_diff", "selection rates (DDP)")):
        if m.get(k) is not None:
            interval = f" (interval [{_v(ci[k][0])}, {_v(ci[k][1])}])" if ci.get(k) else ""
            lines.append(f"- The groups' {what} differ by {_v(m[k])}{interval}.")
    for w in metrics.get("warnings", []):
        lines.append(f"- {w}.")
    if regions:
        lines.append(f"- Where in the face ({regions.get('n_images')} images, {regions.get('method')}): "
                     f"{regions.get('summary')}")
    lines += ["", "## Risks and limitations", ""]
    small = [g for g in groups if g["n"] < SMALL_GROUP]
    if small:
        lines.append("- Groups with fewer than 100 images have wide intervals: "
                     + ", ".join(f"{g['group']} ({g['n']})" for g in small) + ".")
    lines += [(f"- Measured on one dataset ({audit.get('dataset')}, split {audit.get('split')}); faces from other "
              "sources, cameras or crops may behave otherwise."),
              (f"- Groups are those of {protected} as the dataset labels them; other groups and their intersections "
              "were not measured."),
              "", "### Not measured by this audit", "",
              "- Calibration of the scores, robustness to image corruptions or attacks, and performance over time.",
              "- Any group attribute besides " + str(protected) + "."]
    if not regions:
        lines.append("- Where in the face the model looks per group (`facefair audit --regions N`).")
    return "\n".join(meta + lines) + "\n"


def write_model_card(folder: str | Path, regions: bool = True) -> Path:
    """``MODEL_CARD.md`` in an audit folder, from its ``audit.json``, ``metrics.json`` and
    ``regions/regions.json`` (when measured); ``facefair audit`` writes it.

    Parameters
    ----------
    folder
        the audit folder (``facefair audit --out``).
    regions
        include the region sentence where ``regions/regions.json`` exists.
    """
    from .. import __version__

    run = RunFolder(folder)
    audit = json.loads(run.audit_file.read_text())
    metrics = json.loads((run.path / RunFolder.METRICS).read_text())
    reg = json.loads(run.regions_file.read_text()) if regions and run.regions_file.is_file() else None
    return write_text(run.path / RunFolder.MODEL_CARD, model_card(audit, metrics, reg, __version__))
