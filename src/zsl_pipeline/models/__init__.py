"""Network pieces every method shares: seeded linear-layer init and the final linear classifier.

Each method's own networks live in its package (``zsl_pipeline.methods.<name>.models``), the
vision networks in ``zsl_pipeline.vision``.
"""

from zsl_pipeline.models.classifier import LinearLogSoftmax
from zsl_pipeline.models.init import INIT_STD, init_linear, linear

__all__ = ["INIT_STD", "LinearLogSoftmax", "init_linear", "linear"]
