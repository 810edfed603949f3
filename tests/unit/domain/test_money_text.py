"""Amounts are written as text the way ``str(Decimal)`` writes them, without the Decimal work."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from domain.values import Money


@given(st.integers(-(10**17) + 1, 10**17 - 1))
def test_amount_text_is_the_decimal_amount_as_text(minor: int) -> None:
    money = Money(minor)

    assert money.amount_text == str(money.amount)
    assert Money.parse(money.amount_text) == money


def test_amounts_read_as_people_write_them() -> None:
    assert [Money(m).amount_text for m in (0, 5, 150, -150, 45_000)] == [
        "0.00",
        "0.05",
        "1.50",
        "-1.50",
        "450.00",
    ]
    assert str(Money(45_000)) == "450.00 INR"
