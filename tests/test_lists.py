import pytest

from posvenda.lists import csv_safe


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", ""),  # an empty cell stays empty (it used to become a lone quote)
        ("Maria", "Maria"),
        ("+5511987654321", "+5511987654321"),  # a phone is data, not a formula
        ("-12.50", "-12.50"),
        ('=HYPERLINK("x")', '\'=HYPERLINK("x")'),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("+cmd", "'+cmd"),
        ("-2+3", "'-2+3"),
    ],
)
def test_csv_safe_neutralises_formulas_and_keeps_data(value, expected):
    assert csv_safe(value) == expected
