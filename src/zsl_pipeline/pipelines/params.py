"""Typed parameters: every node's ``params:`` input is annotated with one of these models, so
Kedro validates it (pydantic) when the run's parameters are read, before the first node runs.

Each model mirrors one frozen config dataclass of the library (the fields, their types and
defaults are read from the dataclass, so they are written once): unknown keys are an error that
names them and lists the valid ones, values are converted to the field's type (a YAML list to a
tuple, ``4.0`` to ``4``; a non-integral number for an integer field and anything but a boolean
for a boolean field are errors), and the dataclass's own checks (ranges, choices, consistency)
run at validation time. A node turns the model into the library's config with ``.config()``.
(Kedro's loader and ``--params`` read YAML through OmegaConf, which reads ``1e-4`` as a float;
PyYAML's ``safe_load`` reads it as a string, which the models convert too.)

The library below ``pipelines/`` does not import pydantic: on a host with only Python and torch
it builds its configs from plain dicts (``TFVAEGANConfig(**params)``).
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, ClassVar, Literal, Mapping

from pydantic import BaseModel, ConfigDict, StrictBool, create_model, model_validator

from zsl_pipeline.data.demo import DemoConfig
from zsl_pipeline.methods.cada_vae.config import CADAVAEConfig
from zsl_pipeline.methods.runner import RunSettings
from zsl_pipeline.methods.tfvaegan.config import TFVAEGANConfig
from zsl_pipeline.methods.tfvaegan.stages import SCHEDULE_PROTOCOLS
from zsl_pipeline.methods.tfvaegan.validation import CRITERIA
from zsl_pipeline.methods.wgan.config import METHOD_DEFAULTS, WGANConfig, resolve_setting
from zsl_pipeline.vision.extraction import ExtractionConfig
from zsl_pipeline.vision.finetune import FinetuneConfig
from zsl_pipeline.vision.inversion import InversionConfig


class Params(BaseModel):
    """A parameter block: frozen, unknown keys rejected with the list of valid ones."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def _prepare(cls, raw: dict[str, Any]) -> dict[str, Any]:
        """Rewrite the raw mapping before validation (e.g. resolve a named setting)."""
        return raw

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, raw: Any) -> Any:
        if not isinstance(raw, Mapping):
            return raw
        raw = cls._prepare(dict(raw))
        unknown = sorted(set(raw) - set(cls.model_fields))
        if unknown:
            raise ValueError(f"unknown key(s) {unknown}; valid keys are: {', '.join(sorted(cls.model_fields))}")
        return raw


class ConfigParams(Params):
    """A parameter block that builds one library config dataclass (``target``)."""

    target: ClassVar[type]

    def config(self) -> Any:
        """The library's frozen config of these parameters."""
        return self.target(**{f.name: getattr(self, f.name) for f in dataclasses.fields(self.target)})

    @model_validator(mode="after")
    def _library_checks(self) -> "ConfigParams":
        self.config()  # the dataclass's own checks; a ValueError names the field
        return self


def _field_type(hint: Any) -> Any:
    """The pydantic type of a dataclass field: booleans strict (``"yes"`` or ``1`` is no boolean)."""
    return StrictBool if hint is bool else hint


def config_params(
    target: type,
    name: str,
    *,
    defaults: Mapping[str, Any] | None = None,
    extra: Mapping[str, tuple[Any, Any]] | None = None,
    base: type[ConfigParams] = ConfigParams,
) -> type[ConfigParams]:
    """A :class:`ConfigParams` model with ``target``'s fields (``defaults`` replace the
    dataclass's defaults) plus ``extra`` fields that are not the config's (name: (type, default))."""
    hints = typing.get_type_hints(target)
    fields: dict[str, Any] = {
        f.name: (_field_type(hints[f.name]), (defaults or {}).get(f.name, f.default))
        for f in dataclasses.fields(target)
    }
    fields.update(extra or {})
    model = create_model(name, __base__=base, __module__=__name__, **fields)
    model.target = target
    model.__doc__ = f"The parameters of :class:`{target.__module__}.{target.__qualname__}`."
    return model


class WGANParams(ConfigParams):
    """A WGAN method's parameters: a ``settings`` block of named settings (f-CLSWGAN's ``zsl`` /
    ``gzsl`` scripts) is resolved into the top level first; top-level keys win."""

    method_name: ClassVar[str]

    @classmethod
    def _prepare(cls, raw: dict[str, Any]) -> dict[str, Any]:
        if raw.get("method", cls.method_name) != cls.method_name:
            raise ValueError(f"parameter 'method' is {raw['method']!r} in the {cls.method_name} parameters")
        return resolve_setting(raw, default=METHOD_DEFAULTS[cls.method_name]["setting"])


def _wgan_params(method: str, name: str) -> type[WGANParams]:
    model = config_params(WGANConfig, name, defaults=METHOD_DEFAULTS[method], base=WGANParams)
    model.method_name = method
    return model


TFVAEGANParams = config_params(TFVAEGANConfig, "TFVAEGANParams")
CADAVAEParams = config_params(CADAVAEConfig, "CADAVAEParams")
CLSWGANParams = _wgan_params("clswgan", "CLSWGANParams")
ZSWGANParams = _wgan_params("zswgan", "ZSWGANParams")
FILMWGANParams = _wgan_params("filmwgan", "FILMWGANParams")
RunParams = config_params(RunSettings, "RunParams")
DemoParams = config_params(DemoConfig, "DemoParams")
ExtractionParams = config_params(ExtractionConfig, "ExtractionParams")
FinetuneParams = config_params(
    FinetuneConfig, "FinetuneParams", extra={"enabled": (StrictBool, False)}  # read by the pipeline registry
)
InversionParams = config_params(
    InversionConfig,
    "InversionParams",
    # the comparison figure's classes, and the classes its image-space scores average over (None: all unseen)
    extra={"num_classes": (int, 6), "figure_seed": (int, 0), "score_classes": (int | None, None)},
)

#: The parameter model of each generative method's block (``params:<method>``).
METHOD_PARAMS: dict[str, type[ConfigParams]] = {
    "tfvaegan": TFVAEGANParams,
    "clswgan": CLSWGANParams,
    "cada_vae": CADAVAEParams,
    "filmwgan": FILMWGANParams,
    "zswgan": ZSWGANParams,
}


class ImageCheckParams(Params):
    """The up-front check of every image (``images``): existence and a header decode."""

    skip_unreadable: StrictBool = False  # leave missing/unreadable images out (listed, saved) instead of failing
    threads: int = 8  # files opened at once (image folders often sit on network storage)


class SelectionParams(Params):
    """How TF-VAEGAN's number of generator epochs is chosen (``tfvaegan_selection``)."""

    protocol: Literal[SCHEDULE_PROTOCOLS] = "fixed"  # type: ignore[valid-type]
    criterion: Literal[tuple(CRITERIA)] = "h"  # type: ignore[valid-type]


__all__ = [
    "CADAVAEParams",
    "CLSWGANParams",
    "ConfigParams",
    "DemoParams",
    "ExtractionParams",
    "FILMWGANParams",
    "FinetuneParams",
    "ImageCheckParams",
    "InversionParams",
    "METHOD_PARAMS",
    "Params",
    "RunParams",
    "SelectionParams",
    "TFVAEGANParams",
    "ZSWGANParams",
    "config_params",
]
