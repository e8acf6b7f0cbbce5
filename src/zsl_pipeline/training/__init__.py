"""The training kit every loop uses (no kedro, no mlflow, no method).

* :mod:`~zsl_pipeline.training.features`: the preprocessed feature tensors of a dataset;
* :mod:`~zsl_pipeline.training.device`: device choice and the precisions;
* :mod:`~zsl_pipeline.training.streams`: seeded init, training and evaluation generators, and the
  draws that land on the training device whatever device the generator is on (``noise_device``);
* :mod:`~zsl_pipeline.training.stats`: device-side per-epoch statistics and the history shape;
* :mod:`~zsl_pipeline.training.checkpoint`: the checkpoint envelope, atomic save, safe load;
* :mod:`~zsl_pipeline.training.resume`: resume files: the code version that wrote them, the
  check that a run may continue from them;
* :mod:`~zsl_pipeline.training.epoch_resume`: the per-epoch resume file a runner opens around
  a training loop;
* :mod:`~zsl_pipeline.training.events`: the epoch channel (each finished epoch, and the
  iterations inside it, to whoever listens: the MLflow hook, the progress bar);
* :mod:`~zsl_pipeline.training.progress`: the progress bar.
* :mod:`~zsl_pipeline.training.optim`: Adam as the references configure it, fused where torch can;
* :mod:`~zsl_pipeline.training.allocator`: freed CPU memory kept for reuse during CPU training.
"""

from zsl_pipeline.training.checkpoint import cpu_copy, envelope, load_checkpoint, save_checkpoint
from zsl_pipeline.training.device import check_precision, precision_autocast, resolve_device, same_device
from zsl_pipeline.training.events import (
    emit_epoch,
    emit_iteration,
    epoch_listener,
    epoch_scope,
    iteration_listener,
)
from zsl_pipeline.training.features import FeatureTensors, prepare_features
from zsl_pipeline.training.progress import EpochProgressBar
from zsl_pipeline.training.stats import EpochStats, history_columns
from zsl_pipeline.training.streams import (
    EVAL_SEED_OFFSET,
    NOISE_DEVICES,
    eval_stream,
    init_stream,
    stream_device,
    training_stream,
)

__all__ = [
    "EVAL_SEED_OFFSET",
    "EpochProgressBar",
    "EpochStats",
    "FeatureTensors",
    "NOISE_DEVICES",
    "check_precision",
    "cpu_copy",
    "emit_epoch",
    "emit_iteration",
    "envelope",
    "epoch_listener",
    "epoch_scope",
    "eval_stream",
    "history_columns",
    "init_stream",
    "iteration_listener",
    "load_checkpoint",
    "precision_autocast",
    "prepare_features",
    "resolve_device",
    "same_device",
    "save_checkpoint",
    "stream_device",
    "training_stream",
]
