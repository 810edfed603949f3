from datetime import UTC, datetime

from domain.values import Money
from projections.analytics import csv_lines


def test_free_text_that_a_spreadsheet_would_run_as_a_formula_is_exported_as_text() -> None:
    rows = [('=HYPERLINK("x")', "+1", "-2", "@SUM(A1)", "fine, with a comma")]

    lines = list(csv_lines(rows, header=("a", "b", "c", "d", "e")))

    expected = '"\'=HYPERLINK(""x"")",\'+1,\'-2,\'@SUM(A1),"fine, with a comma"\r\n'
    assert lines[1] == expected


def test_money_and_times_are_exported_as_decimals_and_utc() -> None:
    at = datetime(2026, 1, 31, 18, 4, 5, 123456, tzinfo=UTC)

    lines = list(csv_lines([(Money(45000), at, None)], header=("total", "at", "none")))

    assert lines == ["total,at,none\r\n", "450.00,2026-01-31T18:04:05.123456Z,\r\n"]
