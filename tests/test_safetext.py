"""visible(): control characters from files and users never reach the terminal raw."""

from __future__ import annotations

import unicodedata

from gdtui.safetext import DEFAULT_LIMIT, visible


def test_osc_title_sequence_is_shown_not_sent():
    text = "loss\x1b]0;pwned\x07name"
    assert visible(text) == "loss\\x1b]0;pwned\\x07name"


def test_clear_screen_sequence():
    assert visible("\x1b[2Jhello") == "\\x1b[2Jhello"


def test_newline_tab_carriage_return_have_short_names():
    assert visible("a\nb\tc\rd") == "a\\nb\\tc\\rd"


def test_c0_c1_and_del():
    assert visible("\x00\x01\x7f\x85\x9b") == "\\x00\\x01\\x7f\\x85\\x9b"


def test_bidi_override_and_zero_width_and_separators():
    assert visible("abc\u202edcba\u200b\u2028\u2029") == "abc\\u202edcba\\u200b\\u2028\\u2029"
    assert visible("\ufeffx") == "\\ufeffx"


def test_astral_format_character():
    # U+E0001 LANGUAGE TAG is a format character outside the BMP.
    assert unicodedata.category("\U000e0001") == "Cf"
    assert visible("a\U000e0001") == "a\\U000e0001"


def test_undecodable_file_name_byte_is_shown_as_that_byte():
    import os

    name = os.fsdecode(b"bad\xffname.toml")
    assert visible(name) == "bad\\xffname.toml"


def test_printable_text_is_unchanged():
    for text in ["", "x**2 + 10*y**2", "ℌ=3", "café — naïve", "数学", "emoji 🙂", "back\\slash"]:
        assert visible(text) == text


def test_every_control_character_is_escaped():
    for code in [*range(0x20), *range(0x7F, 0xA0)]:
        out = visible(chr(code))
        assert out.startswith("\\"), code
        assert all(unicodedata.category(c) not in ("Cc", "Cf") for c in out)


def test_huge_input_is_cut_and_counted():
    text = "a" * 1_048_576
    out = visible(text)
    assert out == "a" * DEFAULT_LIMIT + "… (1048576 characters)"


def test_huge_input_of_escapes_is_cut_within_limit():
    out = visible("\x1b" * 1_048_576, limit=20)
    # Whole escapes only: five of four characters each.
    assert out == "\\x1b" * 5 + "… (1048576 characters)"


def test_text_exactly_at_limit_is_not_cut():
    assert visible("b" * 10, limit=10) == "b" * 10
    assert visible("b" * 11, limit=10) == "b" * 10 + "… (11 characters)"


def test_non_strings_are_shown_through_str():
    assert visible(42) == "42"
    assert visible(b"\x1b") == "b'\\x1b'"
