"""The amount pattern an upper bound gives (the OpenAPI document's for TIFFIN_MAX_ITEM_PRICE)
takes exactly the amounts the API takes that are at most the bound."""

from __future__ import annotations

import re
from decimal import Decimal

from hypothesis import example, given
from hypothesis import strategies as st

from api.schemas.amounts import AMOUNT_PATTERN, amount_pattern_at_most

bounds = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("999999999.99"), places=2)
amounts = st.decimals(min_value=Decimal("0"), max_value=Decimal("9999999999.99"), places=2)


@st.composite
def written(draw: st.DrawFn, near: Decimal) -> str:
    """An amount as a client might write it: near the bound or anywhere, with 0, 1 or 2
    decimal places, or any text the general pattern takes."""
    amount = draw(st.one_of(amounts, st.sampled_from([near, near + Decimal("0.01")])))
    if draw(st.booleans()):
        return draw(st.from_regex(AMOUNT_PATTERN, fullmatch=True))
    places = draw(st.sampled_from([0, 1, 2]))
    text = f"{amount:.2f}"
    return text[: len(text) - 3] if places == 0 else text[: len(text) - 2 + places]


def takes(pattern: str, text: str) -> bool:
    return re.fullmatch(pattern.removeprefix("^").removesuffix("$"), text) is not None


@given(st.data(), bounds)
@example(None, Decimal("100000.00"))
@example(None, Decimal("0.5"))
@example(None, Decimal("1.00"))
@example(None, Decimal("109.09"))
def test_the_bounded_pattern_takes_what_the_api_takes_up_to_the_bound(
    data: st.DataObject | None, bound: Decimal
) -> None:
    pattern = amount_pattern_at_most(bound)
    samples = [data.draw(written(bound)) for _ in range(20)] if data else []
    samples += ["0.01", "0.1", "0.10", "1", "1.0", "1.00", f"{bound:.2f}", f"{bound + 1:.0f}"]
    for text in samples:
        expected = takes(AMOUNT_PATTERN, text) and Decimal(text) <= bound
        assert takes(pattern, text) == expected, (text, bound, pattern)


def test_the_default_bound_reads_as_a_person_would_check_it() -> None:
    pattern = amount_pattern_at_most(Decimal("100000.00"))
    assert all(takes(pattern, t) for t in ["100000", "100000.0", "100000.00", "99999.99", "5"])
    assert not any(takes(pattern, t) for t in ["100000.01", "100001", "255087491", "0", "0.00"])
