"""The number converters every smoke command line shares (smoke/argtypes.py)."""

from __future__ import annotations

import argparse

import pytest

from smoke.argtypes import finite_positive, positive_float, positive_int


@pytest.mark.parametrize(("convert", "text", "needle"), [
    (positive_int, "0", "must be >= 1"), (positive_int, "2.5", "not an integer"),
    (positive_float, "0", "must be > 0"), (positive_float, "nan", "must be > 0"),
    (positive_float, "x", "not a number"), (finite_positive, "inf", "must be finite"),
    (finite_positive, "-1", "must be > 0"),
])
def test_bad_numbers_are_refused_with_what_is_allowed(convert, text: str, needle: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=needle):
        convert(text)


def test_good_numbers_pass() -> None:
    assert positive_int("3") == 3 and positive_float("inf") == float("inf")
    assert finite_positive("0.5") == 0.5


@pytest.mark.parametrize("argv", [["check", "--outputs", "x.json", "--request-timeout", "inf"],
                                  ["check", "--outputs", "x.json", "--max-body-bytes", "0"]])
def test_smoke_check_refuses_them_before_doing_anything(argv: list[str],
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from smoke.__main__ import main

    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "Traceback" not in capsys.readouterr().err
