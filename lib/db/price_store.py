"""The user's own prices, which override the listed ones (data/models.json)."""

from __future__ import annotations

from sqlalchemy import delete, insert, select

from lib.db.connection import connect, transaction
from lib.db.schema import price_overrides as overrides_table


def price_overrides() -> dict[str, dict[str, float]]:
    """The user's own prices, by model and field (training, tuned_input, ...)."""
    overrides: dict[str, dict[str, float]] = {}
    with connect() as conn:
        for model, field_name, value in conn.execute(select(overrides_table)):
            overrides.setdefault(model, {})[field_name] = value
    return overrides


def set_price_override(model: str, field_name: str, value: float | None) -> None:
    """Override one price (None goes back to the listed price)."""
    with transaction() as conn:
        o = overrides_table.c
        conn.execute(delete(overrides_table).where(o.model == model, o.field == field_name))
        if value is not None:
            conn.execute(insert(overrides_table).values(model=model, field=field_name, value=value))


def clear_price_overrides() -> None:
    """Back to the listed prices for every model."""
    with transaction() as conn:
        conn.execute(delete(overrides_table))
