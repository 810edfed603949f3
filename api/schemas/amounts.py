"""Amounts as request bodies write them: ASCII decimal text, more than zero, at most two
decimal places, no leading zeros (``"450"``, ``"450.5"``, ``"0.05"``), as a regular expression.

``AMOUNT_PATTERN`` takes any amount below a billion; ``amount_pattern_at_most(bound)`` only
those up to ``bound`` too, so the OpenAPI document can say what a configured upper bound
(TIFFIN_MAX_ITEM_PRICE) admits as exactly as the code checks it.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

# ASCII digits only: "\d" would take any script's.
AMOUNT_PATTERN = r"^([1-9][0-9]{0,8}(\.[0-9]{1,2})?|0\.([1-9][0-9]?|0[1-9]))$"
FRACTION = r"(\.[0-9]{1,2})?"
BELOW_ONE = r"0\.([1-9][0-9]?|0[1-9])"
CENT = Decimal("0.01")
LARGEST = Decimal("999999999.99")  # what AMOUNT_PATTERN takes at most


def amount_pattern_at_most(bound: Decimal) -> str:
    """A pattern for the amounts ``AMOUNT_PATTERN`` takes that are at most ``bound`` (at
    least 0.01, at most two decimal places)."""
    bound = min(bound, LARGEST).quantize(CENT, rounding=ROUND_DOWN)
    whole, cents = f"{bound:f}".split(".")
    if whole == "0":  # below a rupee: few enough to name each one
        return "^(" + "|".join(_each_below_one(bound)) + ")$"
    alternatives = [BELOW_ONE, *_shorter_wholes(len(whole)), *_smaller_wholes(whole)]
    alternatives.append(f"{whole}(\\.({_fraction_at_most(cents)}))?")
    return f"^({'|'.join(alternatives)})$"


def _shorter_wholes(digits: int) -> list[str]:
    """Whole parts with fewer digits than the bound's, with any fraction."""
    if digits == 1:
        return []
    more = "" if digits == 2 else f"[0-9]{{0,{digits - 2}}}"
    return [f"[1-9]{more}{FRACTION}"]


def _smaller_wholes(whole: str) -> list[str]:
    """Whole parts as long as the bound's and smaller: the same first k digits, a smaller
    digit next (never a leading zero), any digits after, any fraction."""
    alternatives = []
    for k, digit in enumerate(whole):
        lowest = 1 if k == 0 else 0
        if int(digit) <= lowest:
            continue
        rest = len(whole) - k - 1
        tail = f"[0-9]{{{rest}}}" if rest else ""
        alternatives.append(f"{whole[:k]}{_digits(lowest, int(digit) - 1)}{tail}{FRACTION}")
    return alternatives


def _fraction_at_most(cents: str) -> str:
    """Fractions written after the bound's own whole part (``.d`` or ``.dd``) that keep the
    amount at most the bound, including ``.0`` and ``.00``."""
    tens, units = int(cents[0]), int(cents[1])
    alternatives = [_digits(0, tens)]  # ".d" is d tens of cents
    if tens:
        alternatives.append(f"{_digits(0, tens - 1)}[0-9]")
    alternatives.append(f"{tens}{_digits(0, units)}")
    return "|".join(alternatives)


def _each_below_one(bound: Decimal) -> list[str]:
    """Every way of writing 0.01 up to ``bound`` (below 1): 0.5 and 0.50 alike."""
    written = []
    for cents in range(1, int(bound / CENT) + 1):
        tens, units = divmod(cents, 10)
        written.append(f"0\\.{tens}{units}")
        if not units:
            written.append(f"0\\.{tens}")
    return written


def _digits(low: int, high: int) -> str:
    return str(low) if low == high else f"[{low}-{high}]"
