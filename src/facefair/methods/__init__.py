"""Training methods, each one module registered by name and run by the one trainer."""

from . import asac, domain_independent, erm, fineface, reweight  # noqa: F401  (registers)
from .base import Batch, Method, MethodOptions, StepContext, get_method, register, registered

__all__ = ["Batch", "Method", "MethodOptions", "StepContext", "get_method", "register", "registered"]
