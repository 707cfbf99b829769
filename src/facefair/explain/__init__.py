"""Explanations: Integrated Gradients (Captum), FineFACE's per-expert CAMs, Grad-CAM of other
models, patch ablation of models without gradients, and their pictures (one explainer class per method over :class:`Explainer`)."""

from .ablation import AblationExplainer
from .base import Explainer
from .cam import CAMExplainer, model_cams
from .ig import IntegratedGradientsExplainer
from .run import EXPLAINERS, explain_run

__all__ = ["EXPLAINERS", "AblationExplainer", "CAMExplainer", "Explainer", "IntegratedGradientsExplainer", "explain_run", "model_cams"]
