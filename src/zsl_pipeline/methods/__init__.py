"""The generative zero-shot methods, each a :class:`Method` the shared stages can run.

``get_method(name)`` imports a method's module only when it is asked for.
"""

from __future__ import annotations

import importlib

from zsl_pipeline.methods.base import ClassifierSets, Method

#: name -> (module, attribute) of every generative method.
_REGISTRY = {
    "tfvaegan": ("zsl_pipeline.methods.tfvaegan.method", "METHOD"),
    "clswgan": ("zsl_pipeline.methods.wgan.method", "CLSWGAN"),
    "cada_vae": ("zsl_pipeline.methods.cada_vae.method", "METHOD"),
    "filmwgan": ("zsl_pipeline.methods.wgan.method", "FILMWGAN"),
    "zswgan": ("zsl_pipeline.methods.wgan.method", "ZSWGAN"),
}
GENERATIVE_METHODS = tuple(_REGISTRY)
#: Every method the comparison knows: the generative ones and the non-generative ESZSL baseline.
ALL_METHODS = GENERATIVE_METHODS + ("eszsl",)


def get_method(name: str) -> Method:
    """The :class:`Method` called ``name`` (one of ``GENERATIVE_METHODS``)."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown method {name!r}; expected one of {GENERATIVE_METHODS}")
    module, attribute = _REGISTRY[name]
    return getattr(importlib.import_module(module), attribute)


__all__ = ["ALL_METHODS", "GENERATIVE_METHODS", "ClassifierSets", "Method", "get_method"]
