"""Shared helper of the frozen method configs: parameter coercion.

Every method config (TF-VAEGAN, CADA-VAE, the WGANs) is a frozen dataclass built once at the
node boundary from a parameters mapping. :func:`from_params` rejects unknown keys and converts
each value with :func:`coerce` to its field's type; PyYAML reads ``1e-4`` as a string, so
numeric strings are accepted for numeric fields.
"""

from __future__ import annotations

import typing
from typing import Any, Mapping, TypeVar

T = TypeVar("T")


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", repr(hint))


def _coerce_scalar(value: Any, base: Any) -> Any:
    """Convert one non-null scalar to ``base`` (bool, int, float, str) or raise TypeError/ValueError.

    Any other ``base`` passes the value through.
    """
    if base is bool:
        if isinstance(value, bool):
            return value
        raise TypeError
    if base is int:
        if isinstance(value, bool):
            raise TypeError
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                value = float(value)  # "1e2", "4.0"; raises ValueError if not numeric
        if isinstance(value, float) and not value.is_integer():
            raise TypeError
        return int(value)
    if base is float:
        if isinstance(value, bool):
            raise TypeError
        return float(value)
    if base is str:
        if not isinstance(value, str):
            raise TypeError
        return value
    return value


def coerce(label: str, key: str, value: Any, hint: Any) -> Any:
    """Convert ``value`` to the field type ``hint`` or raise a ValueError naming ``label`` and ``key``.

    ``hint`` may be ``Optional[...]`` (None allowed), a ``tuple[...]`` (a list or tuple of that
    length, e.g. from YAML; ``tuple[T, ...]`` takes any length), bool (real bools only), int
    (no bools, no non-integral floats; integral numeric strings accepted), float (no bools;
    numeric strings accepted) or str (strings only). Values for any other type pass through.
    """
    args = typing.get_args(hint)
    optional = type(None) in args
    if optional:
        rest = [a for a in args if a is not type(None)]
        base = rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]
    else:
        base = hint
    if value is None:
        if optional:
            return None
        raise ValueError(f"{label} parameter '{key}' may not be null")
    if typing.get_origin(base) is tuple:
        types = typing.get_args(base)
        variadic = len(types) == 2 and types[1] is Ellipsis
        if not isinstance(value, (list, tuple)) or (not variadic and len(value) != len(types)):
            what = "a list of numbers" if variadic else f"a list of {len(types)} numbers"
            raise ValueError(f"{label} parameter '{key}': expected {what}, got {value!r}")
        item_types = [types[0]] * len(value) if variadic else list(types)
        try:
            return tuple(_coerce_scalar(v, t) for v, t in zip(value, item_types))
        except (TypeError, ValueError):
            names = f"{_type_name(types[0])}, ..." if variadic else ", ".join(_type_name(t) for t in types)
            raise ValueError(f"{label} parameter '{key}': expected [{names}], got {value!r}") from None
    try:
        return _coerce_scalar(value, base)
    except (TypeError, ValueError):
        raise ValueError(f"{label} parameter '{key}': expected {_type_name(base)}, got {value!r}") from None


def from_params(cls: type[T], params: Mapping[str, Any], label: str) -> T:
    """``cls(**params)`` with every value coerced to its field type (:func:`coerce`).

    Raises a ValueError listing the unknown keys and the valid ones when ``params`` has keys
    that are not fields of ``cls``.
    """
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(params) - set(hints))
    if unknown:
        raise ValueError(
            f"unknown {label} parameter(s) {unknown}; valid keys are: {', '.join(sorted(hints))}"
        )
    return cls(**{key: coerce(label, key, value, hints[key]) for key, value in params.items()})

