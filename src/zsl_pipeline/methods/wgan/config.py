"""The frozen configuration of f-CLSWGAN, ZS-WGAN and FiLM-WGAN runs, with per-method defaults.

One :class:`WGANConfig` covers the three methods (methods_spec.md §4, methods_spec_part2.md §7):
they share the training loop and differ in architecture, initialisation and settings. Each
method's ``config_from_params`` (:func:`clswgan_config`, :func:`zswgan_config`,
:func:`filmwgan_config`) fills that method's reference defaults under the given parameters.

Named settings: f-CLSWGAN has one script per dataset and protocol, whose values differ (§4.4).
A parameter dict may carry them as ``settings: {zsl: {...}, gzsl: {...}}`` and select one with
``setting``; the selected sub-dict is merged into the top level. A key given both at the top
level and in the selected setting keeps its top-level value, so ``--params clswgan.nepoch=5``
overrides the named setting (the conf files keep those keys inside ``settings`` only).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from typing import Any, Mapping

from zsl_pipeline.methods.wgan.models import ARCHITECTURES, INIT_SCHEMES
from zsl_pipeline.training.device import TRAINING_PRECISIONS
from zsl_pipeline.training.streams import NOISE_DEVICES

log = logging.getLogger(__name__)

METHOD_NAMES = ("clswgan", "zswgan", "filmwgan")
#: Named settings of f-CLSWGAN's scripts (``reproduce_zsl_*.sh`` / ``reproduce_gzsl_*.sh``, §4.4).
SETTING_NAMES = ("zsl", "gzsl")
#: Pre-training batches: "stream" = f-CLSWGAN's ``next_batch`` (full batches from a stream of
#: shuffles, §4.1); "loader" = Hemati's shuffled DataLoader (fresh shuffle per epoch, last batch
#: partial, part 2 §7.5).
PRETRAIN_BATCHING = ("stream", "loader")


@dataclass(frozen=True)
class WGANConfig:
    """Every setting of one conditional WGAN-GP run; defaults are f-CLSWGAN's CUB GZSL script (§4.4)."""

    method: str = "clswgan"
    # ---- networks (§4.1, part 2 §7.3) -------------------------------------------------------
    architecture: str = "concat"
    init: str = "bias_zero"
    #: Noise size; None = the class-embedding size (f-CLSWGAN: nz = attSize in every script).
    nz: int | None = None
    ngh: int = 4096
    ndh: int = 4096
    # ---- GAN training (§4.2, part 2 §7.6) ----------------------------------------------------
    lr: float = 1e-4
    beta1: float = 0.5
    batch_size: int = 64
    critic_iter: int = 5
    #: λ of the gradient penalty, fixed (no adaptive rule).
    gp_weight: float = 10.0
    cls_weight: float = 0.01
    nepoch: int = 56
    seed: int = 3483
    # ---- frozen seen-class classifier (§4.1, part 2 §7.5) -----------------------------------
    pretrain_epochs: int = 50
    pretrain_batch_size: int = 100
    pretrain_lr: float = 1e-3
    pretrain_batching: str = "stream"
    # ---- synthesis and final classifiers (§4.3, part 2 §7.8) --------------------------------
    syn_num: int = 300
    classifier_lr: float = 1e-3
    classifier_epochs: int = 25
    #: None = syn_num (the reference's final-classifier batch).
    classifier_batch_size: int | None = None
    classifier_beta1: float = 0.5
    #: The named f-CLSWGAN setting these values come from ("zsl" | "gzsl"); None for the others.
    setting: str | None = "gzsl"
    #: ``fp32`` (the references'), or on CUDA ``tf32`` or ``bf16`` (autocast).
    precision: str = "fp32"
    #: Where the training and evaluation noise is drawn: ``device`` (the training device, the
    #: default) or ``cpu`` (CPU generators, every draw moved to the device: a GPU run then draws
    #: exactly what a CPU run of the same seed draws; for comparing the two, ``training.streams``).
    noise_device: str = "device"

    def __post_init__(self) -> None:
        def need(ok: bool, field: str, problem: str) -> None:
            if not ok:
                raise ValueError(f"WGANConfig.{field}: {problem} (got {getattr(self, field)!r})")

        for name in (
            "ngh",
            "ndh",
            "batch_size",
            "critic_iter",
            "nepoch",
            "pretrain_epochs",
            "pretrain_batch_size",
            "syn_num",
            "classifier_epochs",
        ):
            need(getattr(self, name) >= 1, name, "must be a positive integer")
        for name in ("lr", "pretrain_lr", "classifier_lr"):
            need(getattr(self, name) > 0, name, "must be positive")
        for name in ("gp_weight", "cls_weight"):
            need(getattr(self, name) >= 0, name, "must be non-negative")
        for name in ("beta1", "classifier_beta1"):
            need(0 <= getattr(self, name) < 1, name, "must lie in [0, 1)")
        need(self.method in METHOD_NAMES, "method", f"must be one of {METHOD_NAMES}")
        need(self.precision in TRAINING_PRECISIONS, "precision", f"must be one of {TRAINING_PRECISIONS}")
        need(self.noise_device in NOISE_DEVICES, "noise_device", f"must be one of {NOISE_DEVICES}")
        need(self.architecture in ARCHITECTURES, "architecture", f"must be one of {tuple(ARCHITECTURES)}")
        need(self.init in INIT_SCHEMES, "init", f"must be one of {INIT_SCHEMES}")
        need(
            self.pretrain_batching in PRETRAIN_BATCHING,
            "pretrain_batching",
            f"must be one of {PRETRAIN_BATCHING}",
        )
        need(
            self.setting is None or self.setting in SETTING_NAMES,
            "setting",
            f"must be null or one of {SETTING_NAMES}",
        )
        need(self.nz is None or self.nz >= 1, "nz", "must be null or positive")
        need(
            self.classifier_batch_size is None or self.classifier_batch_size >= 1,
            "classifier_batch_size",
            "must be null or positive",
        )
        if self.architecture == "film":
            need(self.ngh >= 4, "ngh", "FiLM-WGAN needs ngh >= 4 (n_h/4 layer)")
            need(self.ndh >= 4, "ndh", "FiLM-WGAN needs ndh >= 4 (n_h/4 layer)")

    # ---- derived values ---------------------------------------------------------------------
    def noise_dim(self, attr_dim: int) -> int:
        """The noise size for class embeddings of size ``attr_dim`` (``nz``, or ``attr_dim`` if unset)."""
        return attr_dim if self.nz is None else self.nz

    @property
    def effective_classifier_batch_size(self) -> int:
        """The final classifiers' batch size: ``syn_num`` unless set (§4.3, part 2 §7.8)."""
        return self.syn_num if self.classifier_batch_size is None else self.classifier_batch_size

    def generator_iterations(self, ntrain: int) -> int:
        """Generator iterations per epoch: ceil(ntrain / batch_size) (§4.2)."""
        return math.ceil(ntrain / self.batch_size)

    # ---- (de)serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain dict of every field (the resolved values; no ``settings``): checkpoint-safe."""
        return dataclasses.asdict(self)



def resolve_setting(params: Mapping[str, Any], default: str | None = None) -> dict[str, Any]:
    """Merge ``params["settings"][setting]`` into the top level of ``params`` (see the module doc).

    ``setting`` defaults to ``default``. Without a ``settings`` entry the mapping is returned as
    is (a ``to_dict()`` round-trips). Top-level keys win over the named setting's.
    """
    flat = dict(params)
    settings = flat.pop("settings", None)
    if settings is None:
        return flat
    if not isinstance(settings, Mapping):
        raise ValueError(f"WGAN parameter 'settings' must be a mapping of {SETTING_NAMES}, got {settings!r}")
    bad = sorted(set(settings) - set(SETTING_NAMES))
    if bad:
        raise ValueError(f"unknown WGAN setting name(s) {bad} under 'settings'; expected {SETTING_NAMES}")
    setting = flat.get("setting", default)
    if setting not in settings:
        raise ValueError(
            f"WGAN parameter 'setting' is {setting!r}, which is not one of 'settings' {sorted(settings)}"
        )
    chosen = dict(settings[setting])
    for key in ("setting", "settings", "method"):
        if key in chosen:
            raise ValueError(f"WGAN parameter '{key}' may not appear inside settings.{setting}")
    kept = sorted(set(chosen) & set(flat))
    if kept:
        log.info("WGAN parameter(s) %s given at the top level override settings.%s", kept, setting)
    flat["setting"] = setting
    return {**chosen, **flat}


# ---- per-method reference defaults ------------------------------------------------------------
#: f-CLSWGAN (§4.1-4.4): CUB GZSL script values; init weights N(0, 0.02²), bias 0; nz = A.
CLSWGAN_DEFAULTS: dict[str, Any] = {
    "method": "clswgan",
    "architecture": "concat",
    "init": "bias_zero",
    "nz": None,
    "ngh": 4096,
    "ndh": 4096,
    "lr": 1e-4,
    "cls_weight": 0.01,
    "nepoch": 56,
    "syn_num": 300,
    "classifier_lr": 1e-3,
    "seed": 3483,
    "pretrain_epochs": 50,
    "pretrain_batch_size": 100,
    "pretrain_batching": "stream",
    "setting": "gzsl",
}
#: ZS-WGAN (part 2 §7.3-7.7): the active ``train_zswgan.sh`` line (CUB); all params N(0, 0.02²).
ZSWGAN_DEFAULTS: dict[str, Any] = {
    "method": "zswgan",
    "architecture": "concat",
    "init": "all_normal",
    "nz": 300,
    "ngh": 4400,
    "ndh": 4400,
    "lr": 1e-5,
    "cls_weight": 0.01,
    "nepoch": 100,
    "syn_num": 500,
    "classifier_lr": 1e-3,
    "seed": 67232,
    "pretrain_epochs": 25,
    "pretrain_batch_size": 65,
    "pretrain_batching": "loader",
    "setting": None,
}
#: FiLM-WGAN (part 2 §7.3-7.7): the active ``train_filmwgan.sh`` line for AWA1.
FILMWGAN_DEFAULTS: dict[str, Any] = ZSWGAN_DEFAULTS | {
    "method": "filmwgan",
    "architecture": "film",
    "nz": 100,
    "nepoch": 50,
    "syn_num": 2500,
}
METHOD_DEFAULTS: dict[str, dict[str, Any]] = {
    "clswgan": CLSWGAN_DEFAULTS,
    "zswgan": ZSWGAN_DEFAULTS,
    "filmwgan": FILMWGAN_DEFAULTS,
}


def config_from_params(method: str, params: Mapping[str, Any]) -> WGANConfig:
    """``method``'s reference defaults, overridden by ``params`` (named setting resolved first)."""
    defaults = METHOD_DEFAULTS[method]
    if params.get("method", method) != method:
        raise ValueError(f"parameter 'method' is {params['method']!r} in the {method} parameters")
    flat = resolve_setting(params, default=defaults["setting"])
    return WGANConfig(**{**defaults, **flat})


def clswgan_config(params: Mapping[str, Any]) -> WGANConfig:
    """f-CLSWGAN config from its parameter dict (§4)."""
    return config_from_params("clswgan", params)


def zswgan_config(params: Mapping[str, Any]) -> WGANConfig:
    """ZS-WGAN config from its parameter dict (part 2 §7)."""
    return config_from_params("zswgan", params)


def filmwgan_config(params: Mapping[str, Any]) -> WGANConfig:
    """FiLM-WGAN config from its parameter dict (part 2 §7)."""
    return config_from_params("filmwgan", params)
