"""Model instances from one raw SQL row spanning several tables, with the ORM's value conversion.

For the annotation loop's hot reads: a raw join costs no query compilation (issue 13: the
SQL compiler was a third of the loop's CPU), and every value still passes through the same
converters the ORM applies (JSON text to lists, SQLite's text dates to datetimes, ...).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.db import connection, models


@cache
def _plan(model: type[models.Model], vendor: str) -> tuple[list[str], list[tuple[models.Field, Any, list]]]:
    fields = list(model._meta.concrete_fields)
    plan = []
    for field in fields:
        col = field.get_col(model._meta.db_table)
        plan.append((field, col, connection.ops.get_db_converters(col) + field.get_db_converters(connection)))
    return [f.column for f in fields], plan


def columns(model: type[models.Model], alias: str) -> str:
    """The SELECT list for all of a model's concrete columns, from table alias `alias`."""
    return _columns(model, alias, connection.vendor)


@cache
def _columns(model: type[models.Model], alias: str, vendor: str) -> str:
    names, _ = _plan(model, vendor)
    return ", ".join(f"{alias}.{connection.ops.quote_name(name)}" for name in names)


def one(model: type[models.Model], sql: str, params: list[Any] | dict[str, Any]) -> models.Model | None:
    """Run a query selecting `columns(model, ...)` and return its first row as an instance, or None."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else instance(model, row)


def width(model: type[models.Model]) -> int:
    return len(_plan(model, connection.vendor)[0])


def instance(model: type[models.Model], values: tuple[Any, ...] | list[Any]) -> models.Model:
    """Build a saved instance from its columns' raw values (in `columns` order)."""
    names, plan = _plan(model, connection.vendor)
    converted = []
    for (_field, col, converters), value in zip(plan, values, strict=True):
        for convert in converters:
            value = convert(value, col, connection)
        converted.append(value)
    return model.from_db(connection.alias, [f.attname for f, _, _ in plan], converted)


def split(row: tuple[Any, ...], *models_: type[models.Model]) -> tuple[list[models.Model], tuple[Any, ...]]:
    """Cut a joined row into one instance per model (in order), and return the columns left over."""
    out, start = [], 0
    for model in models_:
        end = start + width(model)
        out.append(instance(model, row[start:end]))
        start = end
    return out, row[start:]
