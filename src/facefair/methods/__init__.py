"""Training methods, each one module registered by name and run by the one trainer."""

from . import asac, erm, fineface  # noqa: F401  (registers)
from .base import Batch, Method, MethodOptions, StepContext, get_method, register, registered

__all__ = ["Batch", "Method", "MethodOptions", "StepContext", "get_method", "register", "registered"]
