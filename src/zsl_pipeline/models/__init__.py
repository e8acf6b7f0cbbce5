"""Neural network modules (pure ``nn.Module`` s, no training logic)."""

from zsl_pipeline.models.classifier import LinearLogSoftmax
from zsl_pipeline.models.tfvaegan import (
    Critic,
    Encoder,
    Feedback,
    Generator,
    SemanticDecoder,
    TFVAEGANModels,
    build_tfvaegan,
    generate,
    init_linear,
)

__all__ = [
    "Critic",
    "Encoder",
    "Feedback",
    "Generator",
    "LinearLogSoftmax",
    "SemanticDecoder",
    "TFVAEGANModels",
    "build_tfvaegan",
    "generate",
    "init_linear",
]
