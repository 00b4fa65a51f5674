"""The user's own prices (edited on Tokens and cost), kept in the store, and the listed models with them applied.

The one module of lib/price that reads the store: pricing.py stays pure and takes the overrides as an argument.
"""

from __future__ import annotations

from lib.db.price_store import clear_price_overrides, price_overrides, set_price_override
from lib.price import pricing
from lib.price.pricing import ModelInfo

__all__ = ["clear_price_overrides", "price_overrides", "set_price_override", "user_prices"]


def user_prices() -> dict[str, ModelInfo]:
    """The listed models with the user's own prices applied."""
    return pricing.models(price_overrides())
