"""Model instances from one raw SQL row spanning several tables, with the ORM's value conversion.

For the annotation loop's hot reads: a raw join costs no query compilation (issue 13: the
SQL compiler was a third of the loop's CPU), and every value still passes through the same
converters the ORM applies (JSON text to lists, SQLite's text dates to datetimes, ...).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections, models


@dataclass(frozen=True)
class _Plan:
    columns: list[str]
    attnames: list[str]
    conversions: list[tuple[int, Any, list]]  # (position, column expression, converters), only where there are any


@cache
def _plan(model: type[models.Model], vendor: str) -> _Plan:
    fields = list(model._meta.concrete_fields)
    conversions = []
    for n, field in enumerate(fields):
        col = field.get_col(model._meta.db_table)
        converters = connection.ops.get_db_converters(col) + field.get_db_converters(connection)
        if converters:
            conversions.append((n, col, converters))
    return _Plan([f.column for f in fields], [f.attname for f in fields], conversions)


def columns(model: type[models.Model], alias: str) -> str:
    """The SELECT list for all of a model's concrete columns, from table alias `alias`."""
    return _columns(model, alias, connection.vendor)


def column_list(model: type[models.Model], alias: str) -> tuple[str, ...]:
    """The items of `columns(model, alias)`, one per column (to wrap each in an expression)."""
    return _column_list(model, alias, connection.vendor)


@cache
def _columns(model: type[models.Model], alias: str, vendor: str) -> str:
    return ", ".join(_column_list(model, alias, vendor))


@cache
def _column_list(model: type[models.Model], alias: str, vendor: str) -> tuple[str, ...]:
    return tuple(f"{alias}.{connection.ops.quote_name(name)}" for name in _plan(model, vendor).columns)


def one(model: type[models.Model], sql: str, params: list[Any] | dict[str, Any]) -> models.Model | None:
    """Run a query selecting `columns(model, ...)` and return its first row as an instance, or None."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else instance(model, row)


def width(model: type[models.Model]) -> int:
    return len(_plan(model, connection.vendor).columns)


def instance(model: type[models.Model], values: tuple[Any, ...] | list[Any]) -> models.Model:
    """Build a saved instance from its columns' raw values (in `columns` order)."""
    db = connections[DEFAULT_DB_ALIAS]  # the thread's wrapper, looked up once (the proxy looks it up per attribute)
    plan = _plan(model, db.vendor)
    if len(values) != len(plan.columns):
        raise ValueError(f"{model.__name__}: {len(values)} values for {len(plan.columns)} columns")
    converted = list(values)
    for n, col, converters in plan.conversions:
        for convert in converters:
            converted[n] = convert(converted[n], col, db)
    return saved(model, plan.attnames, converted, db.alias)


def saved(model: type[models.Model], attnames: list[str], values: list[Any], alias: str) -> models.Model:
    """Build a saved instance from every concrete field's value, as `Model.from_db` does, without `__init__`.

    `__init__` sends pre_init and post_init and walks the fields one by one: on the loop's hot
    reads it was most of an instance's cost. The result is what from_db gives for a full row
    (no deferred fields); models with an `__init__`, `from_db` or post_init receivers of their
    own must not come through here.
    """
    obj = model.__new__(model)
    obj.__dict__.update(zip(attnames, values, strict=True))
    obj._state = models.base.ModelState()
    obj._state.adding, obj._state.db = False, alias
    return obj


def attach(instance: models.Model, name: str, related: models.Model) -> None:
    """Set a loaded foreign-key object on an instance that already holds its id (from the same row).

    What `instance.<name> = related` does, without the descriptor's checks (type, database
    router, id copy): both come from one query, so there is nothing to check.
    """
    instance._meta.get_field(name).set_cached_value(instance, related)


def split(row: tuple[Any, ...], *models_: type[models.Model]) -> tuple[list[models.Model], tuple[Any, ...]]:
    """Cut a joined row into one instance per model (in order), and return the columns left over."""
    out, start = [], 0
    for model in models_:
        end = start + width(model)
        out.append(instance(model, row[start:end]))
        start = end
    return out, row[start:]


def json_list(value: Any) -> list[Any]:
    """A JSON array column or aggregate as a list, whether the driver decoded it or not (NULL: empty)."""
    if isinstance(value, str | bytes):
        return json.loads(value)
    return list(value or [])
