"""Face generators for the generative comparison methods: facefair's own DCGAN and encoder,
trained on a dataset's training split, or a user's TorchScript generator (:mod:`.model`
states the interface)."""

from .model import FaceGenerator, load_generator
from .training import GeneratorConfig, train_generator

__all__ = ["FaceGenerator", "GeneratorConfig", "load_generator", "train_generator"]
