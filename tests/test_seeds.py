import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from runner.errors import UserError
from runner.limits import MAX_SEEDS_PER_JOB as MAX_SEEDS
from runner.seeds import FORMS, describe, parse_seeds


@pytest.mark.parametrize(
    "spec, expected",
    [(7, [7]), ("7", [7]), ("1..5", [1, 2, 3, 4, 5]), ("0..0", [0]), ([3, 7, 1], [3, 7, 1]),
     ("1..1e1", list(range(1, 11))), (1e2, [100]), (" 2 .. 3 ", [2, 3])],
)
def test_accepted(spec, expected):
    np.testing.assert_array_equal(parse_seeds(spec), expected)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("abc", "'abc' is not a whole number"),
        ("1..", "a range needs both ends"),
        ("..5", "a range needs both ends"),
        ("5..1", "the range is reversed; write 1..5"),
        ("a..b", "'a' is not a whole number"),
        ("1.5..3", "'1.5' is not a whole number"),
        ("-3..2", "seeds are non-negative"),
        ("1..1e9", f"more than {MAX_SEEDS:,} in one job"),
        # The command that splits this range, not a fixed example that covers another one.
        ("0..10000001", 'split them across jobs: python -m runner -m "$(python -m runner.split '
                        '0..10000001 --jobs 2)"'),
        ([], "the list is empty"),
        ([1, 5, 1], "seed 1 appears more than once"),
        (-1, "non-negative"),
        (1.5, "not a whole number"),
        (True, "is not a seed"),
        ("99999999999999999999", "is past the largest seed"),
        ("1..99999999999999999999", "is past the largest seed"),
        ("", "seed is empty"),
    ],
)
def test_refused_with_a_clear_message(spec, message):
    with pytest.raises(UserError) as e:
        parse_seeds(spec)
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_message_lists_accepted_forms():
    with pytest.raises(UserError, match="an inclusive range"):
        parse_seeds("abc")
    assert "1..50" in FORMS and "[1,5,9]" in FORMS


@given(st.integers(0, 10**6), st.integers(0, 300))
def test_range_is_inclusive(a, n):
    seeds = parse_seeds(f"{a}..{a + n}")
    assert len(seeds) == n + 1 and seeds[0] == a and seeds[-1] == a + n
    assert describe(seeds) == (str(a) if n == 0 else f"{a}..{a + n}")


@given(st.text(max_size=12))
def test_any_text_is_parsed_or_refused_clearly(text):
    try:
        seeds = parse_seeds(text)
    except UserError as e:
        assert str(e)
    else:
        assert seeds.dtype == np.int64 and (seeds >= 0).all() and len(seeds) >= 1
