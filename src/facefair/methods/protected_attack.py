"""What ASAC and Zhang & Sang's augmentation share: a fixed classifier C of the protected
attribute, and attacks on C that make images its prediction of the group flips on.

C is fixed when training starts: by default a linear probe on a frozen copy of the model's
backbone (SPEC, ASAC section 3.1), or an independently trained run whose target is the
protected attribute. It is saved in the method state, so ``--resume`` never refits it.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from ..attacks import FGSM, PGD
from ..errors import ConfigError
from ..models.protected import ProbeClassifier, freeze, probe_on_frozen_copy
from .base import Method, MethodOptions

if TYPE_CHECKING:
    from .base import RunSetup, StepContext

log = logging.getLogger(__name__)


@dataclass
class AttackOptions(MethodOptions):
    """The attack on the protected classifier C, and where C comes from.

    Attributes
    ----------
    attack: ``fgsm`` or ``pgd``.
    eps: attack strengths in pixel units.
    steps: PGD's iterations.
    step_size: PGD's step; 0: 2.5 * eps / steps.
    random_start: PGD starts at a random point of the eps ball.
    classifier: ``probe`` (a linear probe on a frozen copy of M's backbone) or ``independent``
        (a run of its own, ``classifier_run``).
    classifier_run: with ``independent``: a run folder whose target is the protected attribute.
    probe_epochs: the probe's training epochs.
    attack_label: the group the attack pushes away from: ``true`` (the image's protected label)
        or ``predicted`` (C's own prediction), which needs protected labels only where C is fit.
    """

    attack: str = "fgsm"
    eps: tuple[float, ...] = (0.01, 0.001)
    steps: int = 10
    step_size: float = 0.0  # 0: 2.5 * eps / steps
    random_start: bool = True
    classifier: str = "probe"  # probe | independent
    classifier_run: str = ""  # with 'independent': a run whose target is the protected attribute
    probe_epochs: int = 30
    attack_label: str = "true"  # true | predicted

    def __post_init__(self) -> None:
        if self.attack not in ("fgsm", "pgd"):
            raise ConfigError(f"--attack must be fgsm or pgd, got {self.attack!r}")
        eps = tuple(float(e) for e in self.eps)
        if any(e < 0 or e > 1 for e in eps):
            raise ConfigError(f"--eps values must lie in [0, 1], got {eps}")
        self.eps = eps
        if self.attack_label not in ("true", "predicted"):
            raise ConfigError(f"--attack-label must be true or predicted, got {self.attack_label!r}")
        if self.classifier not in ("probe", "independent"):
            raise ConfigError(f"--classifier must be probe or independent, got {self.classifier!r}")
        if self.classifier == "independent" and not self.classifier_run:
            raise ConfigError("--classifier independent needs --classifier-run RUN (a run trained "
                              "with the protected attribute as its target)")


class ProtectedAttackMethod(Method):
    """A method that attacks a fixed protected-attribute classifier C; subclasses train on it."""

    uses_protected = True
    options: AttackOptions
    #: the ASAC paper's fine-tuning budget (SPEC: 10 epochs, Adam 1e-3, clip 1.0, no schedule)
    finetune_defaults: ClassVar[dict[str, Any]] = {"epochs": 10, "lr": 1e-3, "optimizer": "adam",
                                                   "clip": 1.0, "schedule": "constant", "weight_decay": 0.0}

    def __init__(self, options: MethodOptions | None = None):
        super().__init__(options)
        self.classifier: nn.Module | None = None
        self.classifier_kind = ""

    def setup(self, model: nn.Module, run: RunSetup) -> None:
        o = self.options
        if o.classifier == "probe":
            if not run.cfg.init and not run.cfg.weights:
                log.info("note: C is a probe on the model's own backbone, which starts untrained here; "
                        "fine-tune a trained run (facefair mitigate) or pass --classifier independent")
            log.info("fitting the protected classifier C: a linear probe on a frozen copy of M's backbone")
            batches = ((x, a) for x, a in run.train_batches())
            self.classifier = probe_on_frozen_copy(model, batches, run.task.n_groups,
                                                   epochs=o.probe_epochs, seed=run.cfg.seed)
        else:
            loaded = _load(run, o.classifier_run)
            ccfg, cmodel = loaded.cfg, loaded.model
            if ccfg.target != run.cfg.protected:
                raise ConfigError(f"--classifier-run {o.classifier_run} predicts '{ccfg.target}', "
                                  f"not the protected attribute '{run.cfg.protected}'")
            self.classifier = freeze(cmodel)
        self.use_classifier(self.classifier, o.classifier, run.device)

    def use_classifier(self, classifier: nn.Module, kind: str, device: torch.device) -> None:
        """Adopt a frozen protected classifier C and build the attacks on it."""
        o = self.options
        self.classifier, self.classifier_kind = classifier.to(device), kind
        self.fgsm = FGSM(self.classifier)
        self.pgd = PGD(self.classifier, steps=o.steps, step_size=o.step_size or None,
                       random_start=o.random_start)

    def attack_in(self, ctx: StepContext) -> None:
        """Run C and the attacks on it in the training precision (``ctx.autocast``): in fp32
        under a bf16 run, C's passes cost twice the model's."""
        self.fgsm.autocast = self.pgd.autocast = ctx.autocast

    def attack_labels(self, x: torch.Tensor, group: torch.Tensor) -> torch.Tensor:
        """The groups the attacks push images away from: the true protected labels, or with
        ``attack_label = predicted`` C's own predictions (no protected label read here)."""
        if self.options.attack_label == "true":
            return group
        assert self.classifier is not None
        with torch.no_grad(), self.fgsm.autocast():
            return self.classifier(x).argmax(1)

    def state_dict(self) -> dict[str, Any]:
        assert self.classifier is not None
        return {"kind": self.classifier_kind, "classifier": self.classifier.state_dict()}

    def load_state_dict(self, state: dict[str, Any], model: nn.Module, run: RunSetup) -> None:
        if state["kind"] == "probe":
            c: nn.Module = ProbeClassifier(copy.deepcopy(model), run.task.n_groups)
        else:
            c = _load(run, self.options.classifier_run).model
        c.load_state_dict(state["classifier"])
        self.use_classifier(freeze(c), state["kind"], run.device)


def _load(run: RunSetup, folder: str) -> Any:
    """Another trained run, through the loader the trainer lends."""
    if run.load_run is None:
        raise ConfigError(f"--classifier-run {folder}: this caller lends no run loader")
    return run.load_run(folder)
