"""Backbones (torchvision ResNet/DenseNet, a tiny CNN) and the shared-backbone classifier."""

from .backbones import ARCHS, Backbone, build_backbone, load_backbone_weights
from .classifier import FaceClassifier, Normalize, build_model
from .experts import FineFACENet

__all__ = ["ARCHS", "Backbone", "FaceClassifier", "FineFACENet", "Normalize", "build_backbone", "build_model",
           "load_backbone_weights"]
