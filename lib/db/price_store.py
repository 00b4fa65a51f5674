"""The user's own prices, which override the listed ones (data/models.json)."""

from __future__ import annotations

from lib.db.connection import connect, transaction


def price_overrides() -> dict[str, dict[str, float]]:
    """The user's own prices, by model and field (training, tuned_input, ...)."""
    overrides: dict[str, dict[str, float]] = {}
    with connect() as conn:
        for model, field_name, value in conn.execute("SELECT model, field, value FROM price_overrides"):
            overrides.setdefault(model, {})[field_name] = value
    return overrides


def set_price_override(model: str, field_name: str, value: float | None) -> None:
    """Override one price (None goes back to the listed price)."""
    with transaction() as conn:
        conn.execute("DELETE FROM price_overrides WHERE model = ? AND field = ?", (model, field_name))
        if value is not None:
            conn.execute("INSERT INTO price_overrides VALUES (?, ?, ?)", (model, field_name, value))


def clear_price_overrides() -> None:
    """Back to the listed prices for every model."""
    with transaction() as conn:
        conn.execute("DELETE FROM price_overrides")
