"""Explanations: class activation maps (FineFACE experts, CAM of a linear-head model) and
their pictures. Integrated Gradients comes through Captum."""

from .cam import model_cams
from .run import explain_run

__all__ = ["explain_run", "model_cams"]
