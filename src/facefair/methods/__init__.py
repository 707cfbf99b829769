"""Training methods, each one module registered by name and run by the one trainer."""

from . import (  # noqa: F401  (registers)
    adversarial_debias,
    asac,
    consistency,
    domain_independent,
    erm,
    fair_mixup,
    fineface,
    gan_debias,
    generative_views,
    gsmote,
    multitask,
    postprocess,
    regularized,
    resample,
    reweight,
    zhang_sang,
)
from .base import (
    Batch,
    Method,
    MethodOptions,
    RunSetup,
    StepContext,
    apply_train_defaults,
    get_method,
    register,
    registered,
)

__all__ = ["Batch", "Method", "MethodOptions", "RunSetup", "StepContext", "apply_train_defaults", "get_method", "register",
           "registered"]
