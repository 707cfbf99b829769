"""Adversarial attacks in pixel space over a tiny base class (FGSM, PGD)."""

from .base import Attack
from .fgsm import FGSM
from .pgd import PGD

ATTACKS = {"fgsm": FGSM, "pgd": PGD}

__all__ = ["ATTACKS", "FGSM", "PGD", "Attack"]
