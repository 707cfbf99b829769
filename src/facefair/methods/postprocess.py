"""Post-processing: group-specific (randomised) thresholds on a trained model's scores.

Hardt, Price and Srebro (2016), "Equality of Opportunity in Supervised Learning": for each
protected group, a rule that predicts positive with probability ``sum_k w_k [score >= t_k]``,
chosen on the validation split to maximise expected accuracy subject to equal TPR and FPR
(equalized odds), equal TPR (equal opportunity) or equal selection rate (demographic parity).

Why a linear program: mixing threshold rules makes a group's reachable (FPR, TPR) set the
convex hull of its ROC points, so maximising accuracy under equal rates is a linear program
over the mixing weights, solved exactly (scipy's HiGHS). Fairlearn's ThresholdOptimizer, the
tests' oracle, searches a grid of rates instead; the exact optimum is never below it.

The model is untouched: the rule lives in the run's method options, so the run folder holds
the base run's weights and ``evaluate`` re-applies the rule. Scores (hence AUC) are the base
model's; only the decisions change. A decision's coin is a hash of the image's index and the
seed, so the same image gets the same answer in any order, batch or number of ranks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError
from .base import Batch, Method, MethodOptions, RunSetup, StepContext, get_method, register

if TYPE_CHECKING:
    from ..config import TrainConfig
    from ..data import Task

CONSTRAINTS = ("equalized_odds", "equal_opportunity", "demographic_parity")
#: the threshold that predicts nothing positive (scores are probabilities, at most 1)
NEVER = 2.0


@dataclass
class GroupRule:
    """One group's randomised threshold rule: positive with probability sum_k w_k [score >= t_k]."""

    thresholds: list[float]
    weights: list[float]

    def positive_probability(self, score: np.ndarray) -> np.ndarray:
        s = np.asarray(score, dtype=np.float64)
        return sum((w * (s >= t) for t, w in zip(self.thresholds, self.weights)), np.zeros(len(s)))


@dataclass
class ThresholdFit:
    """The fitted rules (in group-code order) and the validation figures they were chosen on."""

    constraint: str
    groups: list[str]
    rules: list[GroupRule]
    expected_accuracy: float
    rates: dict[str, list[float]]  # per group, expected on validation: tpr, fpr, selection_rate


def _roc(score: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every deterministic rule ``score >= t`` of one group: thresholds (NEVER first) and
    its true- and false-positive counts."""
    order = np.argsort(-score, kind="stable")
    s, yy = score[order], y[order]
    last = np.r_[s[1:] != s[:-1], True]  # the last image of each run of equal scores
    tp, fp = np.cumsum(yy)[last], np.cumsum(1 - yy)[last]
    return np.r_[NEVER, s[last]], np.r_[0.0, tp], np.r_[0.0, fp]


def fit_thresholds(score: np.ndarray, y: np.ndarray, group: np.ndarray, constraint: str,
                   group_names: list[str]) -> ThresholdFit:
    """The accuracy-maximising randomised group thresholds under ``constraint`` on these
    (validation) scores.

    Parameters
    ----------
    score
        the model's probability of the positive class per image, in [0, 1].
    y
        the true labels (0/1).
    group
        protected-group codes (0 .. len(group_names) - 1).
    constraint
        equalized_odds, equal_opportunity or demographic_parity.
    group_names
        the groups' names, by code.
    """
    from scipy.optimize import linprog

    if constraint not in CONSTRAINTS:
        raise ConfigError(f"--constraint must be one of {', '.join(CONSTRAINTS)}, got {constraint!r}")
    score, y, group = (np.asarray(score, dtype=np.float64), np.asarray(y, dtype=np.int64),
                       np.asarray(group, dtype=np.int64))
    if len(score) == 0:
        raise ConfigError("post-processing needs validation images; the validation split is empty")
    present = sorted(set(group.tolist()))
    if len(present) < 2:
        raise ConfigError(f"the validation split holds one protected group ({group_names[present[0]]}); "
                          "group thresholds need two or more")
    need_pos = constraint in ("equalized_odds", "equal_opportunity")
    curves, n = [], len(y)
    for g in range(len(group_names)):
        m = group == g
        pos, neg = int(y[m].sum()), int((1 - y[m]).sum())
        if m.sum() and ((need_pos and pos == 0) or (constraint == "equalized_odds" and neg == 0)):
            raise ConfigError(f"group {group_names[g]!r} has no {'positive' if pos == 0 else 'negative'} "
                              f"validation images; {constraint} cannot be fitted")
        curves.append((*_roc(score[m], y[m]), pos, neg, int(m.sum())) if m.sum() else None)
    live = [g for g, c in enumerate(curves) if c is not None]
    sizes = [len(curves[g][0]) for g in live]
    offsets = np.r_[0, np.cumsum(sizes)]
    n_var = int(offsets[-1])
    gain = np.zeros(n_var)  # expected correct answers of each rule
    sums, tprs, fprs, srs = [], [], [], []
    for i, g in enumerate(live):
        thr, tp, fp, pos, neg, size = curves[g]
        sl = slice(offsets[i], offsets[i + 1])
        gain[sl] = tp + (neg - fp)
        rows = {name: np.zeros(n_var) for name in ("one", "tpr", "fpr", "sr")}
        rows["one"][sl] = 1.0
        rows["tpr"][sl] = tp / max(pos, 1)
        rows["fpr"][sl] = fp / max(neg, 1)
        rows["sr"][sl] = (tp + fp) / size
        sums.append(rows["one"])
        tprs.append(rows["tpr"])
        fprs.append(rows["fpr"])
        srs.append(rows["sr"])
    equal = {"equalized_odds": (tprs, fprs), "equal_opportunity": (tprs,), "demographic_parity": (srs,)}[constraint]
    a_eq = list(sums) + [rates[i] - rates[0] for rates in equal for i in range(1, len(live))]
    b_eq = [1.0] * len(sums) + [0.0] * (len(a_eq) - len(sums))
    res = linprog(-gain / n, A_eq=np.array(a_eq), b_eq=np.array(b_eq), bounds=(0, None), method="highs")
    if res.status != 0:  # pragma: no cover - the trivial rules (all/none positive) are always feasible
        raise ConfigError(f"threshold fitting failed: {res.message}")
    w = np.clip(res.x, 0.0, None)
    # a group absent from validation has nothing to fit: it gets the most accurate single
    # threshold over all validation images (the base model's rule, at its best cut)
    thr_all, tp_all, fp_all = _roc(score, y)
    best = float(thr_all[int(np.argmax(tp_all + (int((1 - y).sum()) - fp_all)))])
    rules: list[GroupRule] = [GroupRule([best], [1.0]) for _ in group_names]
    rates: dict[str, list[float]] = {"tpr": [], "fpr": [], "selection_rate": []}
    for i, g in enumerate(live):
        wg = w[offsets[i]:offsets[i + 1]]
        keep = wg > 1e-9
        thr = curves[g][0][keep]
        rules[g] = GroupRule([float(t) for t in thr], [float(v) for v in wg[keep] / wg[keep].sum()])
    for g in range(len(group_names)):
        m = group == g
        p = rules[g].positive_probability(score[m]) if m.sum() else np.zeros(0)
        pos, neg = y[m] == 1, y[m] == 0
        rates["tpr"].append(float(p[pos].mean()) if pos.any() else float("nan"))
        rates["fpr"].append(float(p[neg].mean()) if neg.any() else float("nan"))
        rates["selection_rate"].append(float(p.mean()) if m.any() else float("nan"))
    return ThresholdFit(constraint, list(group_names), rules, float(-res.fun), rates)


def coins(index: np.ndarray | torch.Tensor, seed: int) -> np.ndarray:
    """A uniform number in [0, 1) per image, fixed by (image index, seed): splitmix64."""
    with np.errstate(over="ignore"):  # the arithmetic is modulo 2^64 on purpose
        x = np.asarray(index, dtype=np.uint64) + np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) / float(2 ** 53)


def decide(rules: list[GroupRule], score: np.ndarray, group: np.ndarray, index: np.ndarray,
           seed: int) -> np.ndarray:
    """Randomised decisions of the rules: positive where the image's coin < its probability."""
    score, group = np.asarray(score, dtype=np.float64), np.asarray(group, dtype=np.int64)
    p = np.zeros(len(score))
    for g, rule in enumerate(rules):
        m = group == g
        p[m] = rule.positive_probability(score[m])
    return (coins(index, seed) < p).astype(np.int64)


@dataclass
class PostProcessOptions(MethodOptions):
    """Group thresholds fitted by ``facefair postprocess`` over another method's model.

    Attributes
    ----------
    constraint: the equality the thresholds hold on validation: equalized_odds,
        equal_opportunity or demographic_parity.
    base_method: the method whose trained model gives the scores.
    base_options: that method's options.
    groups: the protected groups, in code order, the rules were fitted for.
    thresholds: per group, the thresholds the rule mixes (score >= t is positive).
    weights: per group, each threshold's probability.
    seed: seeds the per-image coins of randomised decisions.
    """

    constraint: str = "equalized_odds"
    base_method: str = "erm"
    base_options: dict[str, Any] = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)
    thresholds: list[list[float]] = field(default_factory=list)
    weights: list[list[float]] = field(default_factory=list)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.constraint not in CONSTRAINTS:
            raise ConfigError(f"constraint must be one of {', '.join(CONSTRAINTS)}, got {self.constraint!r}")
        if not (len(self.groups) == len(self.thresholds) == len(self.weights)):
            raise ConfigError("post-processing options need one threshold list and one weight list per group")

    @property
    def rules(self) -> list[GroupRule]:
        return [GroupRule(list(t), list(w)) for t, w in zip(self.thresholds, self.weights)]


@register
class PostProcess(Method):
    name = "postprocess"
    summary = "Hardt et al. group thresholds on a trained model's scores (facefair postprocess, not trained)"
    uses_protected = True
    Options = PostProcessOptions
    options: PostProcessOptions

    def __init__(self, options: MethodOptions | None = None):
        super().__init__(options)
        self.base = get_method(self.options.base_method, self.options.base_options)

    def build_model(self, cfg: TrainConfig, task: Task) -> nn.Module:
        if self.options.groups and list(task.group_classes) != list(self.options.groups):
            raise ConfigError(f"the thresholds were fitted for groups {self.options.groups}, but the data's "
                              f"protected groups are {list(task.group_classes)}")
        return self.base.build_model(cfg, task)

    def setup(self, model: nn.Module, run: RunSetup) -> None:
        raise ConfigError("postprocess is fitted on a trained run's validation scores by "
                          "`facefair postprocess RUN --constraint ... --out NEW`, not trained")

    def train_step(self, model: nn.Module, batch: Batch, ctx: StepContext) -> dict[str, float]:
        raise ConfigError("postprocess is not trained; use `facefair postprocess`")

    def predict_logits(self, model: nn.Module, x: torch.Tensor, group: torch.Tensor | None = None) -> torch.Tensor:
        return self.base.predict_logits(model, x, group)

    def decide(self, logits: torch.Tensor, group: torch.Tensor | None, index: torch.Tensor) -> torch.Tensor:
        if group is None:
            raise ConfigError("post-processed thresholds are per protected group of the data they were fitted "
                              "on; another dataset's groups cannot choose them (evaluate the base run instead)")
        score = logits.float().softmax(1)[:, 1].cpu().numpy()
        pred = decide(self.options.rules, score, group.cpu().numpy(), index.cpu().numpy(), self.options.seed)
        return torch.from_numpy(pred).to(logits.device)
