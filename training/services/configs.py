"""Job configs seen from Django: find a kind's job module and validate a user's hyperparameters."""

from __future__ import annotations

import dataclasses
import importlib
import types
import typing
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

from training.jobs import common
from training.kinds import kind_spec
from training.models import RunKind

_PLACEHOLDER = "system-placeholder"


def job_module_name(kind: str) -> str | None:
    """Return the module the runner executes for a kind, None when it has no job (tests may point a kind at a fake)."""
    overrides: dict[str, str] = getattr(settings, "PREFLOOP_JOB_MODULES", {}) or {}
    spec = kind_spec(kind)
    return overrides.get(kind, spec.job_module if spec else None)


@dataclass(frozen=True)
class JobSpec:
    """What Django needs to know about one job: its config class and the fields the runner fills."""

    kind: str
    module: str
    config_class: type
    system_fields: frozenset[str]

    @cached_property
    def hints(self) -> dict[str, Any]:
        try:
            return typing.get_type_hints(self.config_class)
        except Exception:  # noqa: BLE001 - an unresolvable hint just means "no type check"
            return {}

    def user_fields(self) -> list[dataclasses.Field]:
        """Return the hyperparameters a user may set, in declaration order."""
        return [f for f in dataclasses.fields(self.config_class) if f.name not in self.system_fields]

    def defaults(self) -> dict[str, Any]:
        """Return the user-settable fields with their default values."""
        out: dict[str, Any] = {}
        for f in self.user_fields():
            if f.default is not dataclasses.MISSING:
                out[f.name] = f.default
            elif f.default_factory is not dataclasses.MISSING:
                out[f.name] = f.default_factory()
        return out


def job_spec(kind: str) -> JobSpec:
    """Import a kind's job module and describe it; ValidationError on `kind` when there is none."""
    if kind not in RunKind.values:
        raise ValidationError({"kind": f"unknown kind {kind!r}; choose one of {', '.join(RunKind.values)}"})
    name = job_module_name(kind)
    if name is None:
        raise ValidationError({"kind": f"the {kind} kind has no job yet, so it cannot be started"})
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and name.startswith(exc.name):
            raise ValidationError({"kind": f"the {kind} job is not installed ({name})"}) from exc
        raise
    return JobSpec(
        kind=kind,
        module=name,
        config_class=module.CONFIG_CLASS,
        system_fields=frozenset(getattr(module, "SYSTEM_FIELDS", frozenset())),
    )


_SCALARS: dict[Any, Any] = {
    bool: lambda v: isinstance(v, bool),
    int: lambda v: isinstance(v, int) and not isinstance(v, bool),
    float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    str: lambda v: isinstance(v, str),
    type(None): lambda v: v is None,
    Any: lambda v: True,
}


def _type_ok(value: Any, hint: Any) -> bool:
    """Check a JSON value against a simple type hint (int, float, str, bool, list/tuple, Optional, Literal)."""
    if hint in _SCALARS:
        return _SCALARS[hint](value)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, arg) for arg in typing.get_args(hint))
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if origin in (list, tuple, frozenset, set) or hint in (list, tuple):
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        return isinstance(value, list) and all(_type_ok(v, args[0]) for v in value) if args else isinstance(value, list)
    if origin is dict or hint is dict:
        return isinstance(value, dict)
    return True  # a hint we do not model: the job's own validate() has the last word


def _coerce(value: Any, hint: Any) -> Any:
    """Turn JSON lists into tuples where the dataclass wants a tuple (frozen configs prefer tuples)."""
    if typing.get_origin(hint) is tuple and isinstance(value, list):
        return tuple(value)
    return value


def config_validate(kind: str, config: Any) -> dict[str, Any]:
    """Return the full user config (defaults + given keys) or raise ValidationError naming the field."""
    spec = job_spec(kind)
    if not isinstance(config, dict):
        raise ValidationError({"config": "config must be a JSON object of hyperparameters"})
    user_names = {f.name for f in spec.user_fields()}
    for key in sorted(config):
        if key in spec.system_fields:
            raise ValidationError({"config": f"{key}: is set by PrefLoop, not by the user"})
        if key not in user_names:
            raise ValidationError({"config": f"{key}: unknown field for {kind}; known: {', '.join(sorted(user_names))}"})
        hint = spec.hints.get(key)
        if hint is not None and not _type_ok(config[key], hint):
            raise ValidationError({"config": f"{key}: expected {getattr(hint, '__name__', hint)}, got {config[key]!r}"})
    data = {name: _PLACEHOLDER for name in spec.system_fields}
    data.update({k: _coerce(v, spec.hints.get(k)) for k, v in config.items()})
    try:
        common.config_from_dict(spec.config_class, data)
    except common.ConfigError as exc:
        raise ValidationError({"config": str(exc)}) from exc
    full = spec.defaults()
    full.update(config)
    return full


def config_error_field(message: str) -> str | None:
    """Return the field a config error message names ("lr: must be ..." -> "lr"), if any."""
    head, sep, _ = message.partition(":")
    return head.strip() if sep and head.strip().isidentifier() else None
