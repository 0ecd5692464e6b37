"""How numbers look on screen: short, honest, and the same everywhere in the app."""

from __future__ import annotations

import math


def num(value: float | None, digits: int = 6) -> str:
    """A number in ``digits`` significant digits; whole numbers keep a ``.0`` (6.0, not 6).

    The worked example must read gradient 6.0 and weight 4.4: ``-0.5999999999999996`` (the
    float64 difference 4.4 − 5.0) shows as ``-0.6``; the record keeps every digit.
    """
    if value is None:
        return "—"
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    text = f"{value:.{digits}g}"
    if text == "-0":
        text = "0"
    if "e" not in text and "." not in text and "n" not in text:
        text += ".0"
    return text.replace("-", "−")


def rate(value: float | None) -> str:
    """Steps per second, grouped: ``8,412 steps/s``."""
    if value is None:
        return ""
    if value >= 100:
        return f"{value:,.0f} steps/s"
    return f"{value:.1f} steps/s"


def fit(values: list[float | None], width: int, digits: int = 6) -> list[str]:
    """Numbers that fit ``width`` cells each: fewer significant digits, never an ellipsis.

    A rounded number is still the record's number; a cut-off one ("1.87e…") is not. When even
    two digits don't fit, the two-digit texts come back wider than ``width`` (see :func:`fits`).
    """
    return fits(values, width, digits, 2) or [num(v, 2) for v in values]


def fits(
    values: list[float | None], width: int, digits: int = 6, min_digits: int = 3
) -> list[str] | None:
    """Like :func:`fit`, but None when ``min_digits`` significant digits don't fit."""
    for d in range(digits, min_digits - 1, -1):
        texts = [num(v, d) for v in values]
        if all(len(t) <= width for t in texts):
            return texts
    return None
