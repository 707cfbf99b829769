"""``facefair robustness RUN``: how ASAC noise moves M before and after fine-tuning.

The ASAC paper's section 4.2.1 and Figure 4: adversarial images built to fool the protected
classifier C (about gender) also move the target classifier M (smile) before fine-tuning;
after ASAC fine-tuning M should hold its decision while C, frozen, is still fooled. For a
seeded set of test images and growing eps this measures, for the base and the fine-tuned M,
the mean probability of the true class, the share of ASACs that flip M's clean decision,
and C's flip share (the same before and after: the images are the same). JSON and a PNG.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..atomic import write_json
from ..attacks import ATTACKS
from ..checkpoint import CKPT_KEYS, load_checkpoint
from ..data.loader import SplitImages, iterate, to_input
from ..errors import ConfigError
from ..inference import load_run
from ..methods import RunSetup
from ..runfolder import RunFolder

log = logging.getLogger(__name__)

DEFAULT_EPS = (0.0, 0.001, 0.003, 0.01, 0.02, 0.03, 0.05)


def _classifier(run: Path) -> tuple[Any, torch.nn.Module]:
    """The run's frozen protected classifier C, restored from its checkpoint."""
    cfg, task, method, model, device = load_run(run)
    state = load_checkpoint(RunFolder(run).checkpoint("last"), CKPT_KEYS).get("method") or {}
    if "classifier" not in state:
        raise ConfigError(f"{run} is a '{cfg.method}' run without a protected classifier; "
                          "robustness needs an ASAC run")
    method.load_state_dict(state, model, RunSetup(cfg, task, device, run, None, load_run))  # type: ignore[arg-type]
    return (cfg, task, device, model), method.classifier


@torch.no_grad()
def _probs(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    logits = model(x).float()
    return logits.softmax(1).gather(1, y[:, None])[:, 0], logits.argmax(1)


def robustness(run: str | Path, base: str | Path | None = None, eps: Sequence[float] = DEFAULT_EPS,
               n: int = 512, attack: str = "fgsm", seed: int = 0, batch_size: int = 128,
               plot: bool = True) -> dict[str, Any]:
    """ASAC's noise against the model's decisions before and after fine-tuning: writes
    ``RUN/robustness.json`` (and ``.png``); returns the JSON document.

    Parameters
    ----------
    run
        an ASAC run folder (it holds the protected classifier C the attack uses).
    base
        the model before fine-tuning (default: the run's ``init``).
    eps
        attack strengths in pixel units.
    n
        test images (a seeded subset).
    attack
        fgsm or pgd.
    seed
        the subset's seed.
    batch_size
        images per pass.
    plot
        also draw the PNG.
    """
    run = Path(run)
    (cfg, task, device, after), clf = _classifier(run)
    base = Path(base) if base is not None else (Path(cfg.init) if cfg.init else None)
    if base is None:
        raise ConfigError(f"{run}: name the model before fine-tuning with --base RUN")
    before = load_run(base).model.to(device).eval()
    after.eval()
    if attack not in ATTACKS:
        raise ConfigError(f"--attack must be one of {', '.join(ATTACKS)}")
    atk = ATTACKS[attack](clf)
    eps = sorted({0.0, *map(float, eps)})
    ds = SplitImages(task, task.indices("test", limit=n, seed=seed), cfg.size)
    sums = {k: np.zeros(len(eps)) for k in ("p_before", "p_after", "flip_before", "flip_after", "flip_c")}
    total = 0
    for b in iterate(ds, batch_size):
        x = to_input(b["x"], device)
        y, a = b["y"].to(device), b["group"].to(device)
        advs = atk(x, a, eps)
        clean = {name: _probs(m, x, y)[1] for name, m in (("before", before), ("after", after))}
        c_clean = clf(x).argmax(1)
        for j, xa in enumerate(advs):
            for name, m in (("before", before), ("after", after)):
                p, pred = _probs(m, xa, y)
                sums[f"p_{name}"][j] += float(p.sum())
                sums[f"flip_{name}"][j] += float((pred != clean[name]).sum())
            with torch.no_grad():
                sums["flip_c"][j] += float((clf(xa).argmax(1) != c_clean).sum())
        total += len(y)
    doc = {"run": str(run), "base": str(base), "attack": attack, "n": total, "eps": eps,
           "before": {"p_true": (sums["p_before"] / total).tolist(), "flip": (sums["flip_before"] / total).tolist()},
           "after": {"p_true": (sums["p_after"] / total).tolist(), "flip": (sums["flip_after"] / total).tolist()},
           "classifier_flip": (sums["flip_c"] / total).tolist()}
    write_json(run / "robustness.json", doc)
    if plot:
        plot_robustness(doc, run / "robustness.png")
    return doc


def robustness_figure(doc: dict[str, Any]) -> Any:
    """Two panels: M's true-class probability, and flip shares of M and C, against eps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    eps = doc["eps"]
    fig, (l, r) = plt.subplots(1, 2, figsize=(9, 3.4))
    l.plot(eps, doc["before"]["p_true"], "o-", label="M before (base)")
    l.plot(eps, doc["after"]["p_true"], "s-", label="M after ASAC")
    l.set_xlabel("ASAC noise eps")
    l.set_ylabel("mean P(true target class)")
    l.legend()
    r.plot(eps, doc["before"]["flip"], "o-", label="M before")
    r.plot(eps, doc["after"]["flip"], "s-", label="M after")
    r.plot(eps, doc["classifier_flip"], "^--", color="gray", label="C (frozen)")
    r.set_xlabel("ASAC noise eps")
    r.set_ylabel("share of decisions flipped")
    r.legend()
    fig.suptitle(f"ASAC robustness ({doc['attack']}, {doc['n']} test images)")
    fig.tight_layout()
    return fig


def plot_robustness(doc: dict[str, Any], path: Path) -> None:
    """:func:`robustness_figure` saved as a PNG."""
    import matplotlib.pyplot as plt

    fig = robustness_figure(doc)
    fig.savefig(path, dpi=110)
    plt.close(fig)
