"""The one code validator every input source goes through (loyalty_pos.devices.codes)."""

from __future__ import annotations

import pytest
from biip.checksums import gs1_standard_check_digit
from hypothesis import given
from hypothesis import strategies as st

from loyalty_pos.devices.codes import BadCode, Code, CodeRules, validate_code
from loyalty_pos.domain.errors import ConfigError, Refused

PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
CONTROL = st.sampled_from([chr(c) for c in range(0x20)] + ["\x7f"])


def with_check_digit(payload: str) -> str:
    return payload + str(gs1_standard_check_digit(payload))


def wrong_check_digit(code: str) -> str:
    return code[:-1] + str((int(code[-1]) + 1) % 10)


digits = st.text(alphabet="0123456789", min_size=1, max_size=1)


@st.composite
def eans(draw: st.DrawFn, length: int) -> str:
    payload = draw(st.text(alphabet="0123456789", min_size=length - 1, max_size=length - 1))
    return with_check_digit(payload)


def plain_codes() -> st.SearchStrategy[str]:
    """Printable codes that none of the special rules (AIM, EAN digits, spaces) touch."""
    return st.text(PRINTABLE, min_size=1, max_size=64).filter(
        lambda s: (
            s == s.strip(" ")
            and not s.startswith("]")
            and not (s.isdigit() and len(s) in (8, 12, 13))
        )
    )


@given(plain_codes(), st.sampled_from(["pcsc", "serial", "wedge", "typed"]))
def test_printable_ascii_codes_pass_unchanged(text, source):
    assert validate_code(text, source) == Code(text, None, source)


@given(plain_codes())
def test_bytes_and_str_are_treated_alike(text):
    assert validate_code(text.encode("ascii"), "serial") == validate_code(text, "serial")


@given(
    st.text(PRINTABLE, max_size=20),
    CONTROL,
    st.text(PRINTABLE, max_size=20),
    st.sampled_from(["serial", "wedge", "typed"]),
)
def test_any_control_character_is_refused(before, control, after, source):
    with pytest.raises(BadCode) as refused:
        validate_code(before + control + after, source)
    assert "control character" in refused.value.reason or "escape" in refused.value.reason
    assert isinstance(refused.value, Refused)
    assert refused.value.source == source


def test_an_escape_sequence_is_named_as_such():
    with pytest.raises(BadCode, match=r"escape sequence \(0x1B at position 0\)"):
        validate_code("\x1b[2J4006381333931", "wedge")


@given(st.text(min_size=1, max_size=20).filter(lambda s: not s.isascii()))
def test_anything_outside_ascii_is_refused(text):
    with pytest.raises(BadCode, match="not ASCII"):
        validate_code(text, "typed")


def test_a_non_ascii_byte_hints_at_the_serial_settings():
    with pytest.raises(BadCode, match="baud rate and parity"):
        validate_code(b"40063\xf8133", "serial")


@given(st.integers(min_value=1, max_value=200))
def test_codes_longer_than_the_maximum_are_refused(max_length):
    rules = CodeRules(max_length=max_length, verify_ean_digits=False)
    assert validate_code("A" * max_length, "typed", rules).text == "A" * max_length
    with pytest.raises(BadCode, match=f"at most {max_length} are accepted"):
        validate_code("A" * (max_length + 1), "typed", rules)


def test_the_default_maximum_is_64():
    validate_code("X" * 64, "typed")
    with pytest.raises(BadCode):
        validate_code("X" * 65, "typed")


@pytest.mark.parametrize("text", ["", "   "])
def test_empty_codes_are_refused(text):
    with pytest.raises(BadCode, match="empty"):
        validate_code(text, "typed")


def test_surrounding_spaces_are_dropped():
    assert validate_code("  CARD-1 ", "typed").text == "CARD-1"


@given(st.sampled_from([8, 12, 13]).flatmap(eans))
def test_all_digit_codes_of_ean_length_must_have_a_correct_check_digit(code):
    assert validate_code(code, "serial").text == code
    with pytest.raises(BadCode, match="check digit is wrong"):
        validate_code(wrong_check_digit(code), "serial")


@given(st.sampled_from([8, 12, 13]).flatmap(eans))
def test_stores_whose_card_numbers_are_not_eans_can_turn_the_check_off(code):
    rules = CodeRules(verify_ean_digits=False)
    assert validate_code(wrong_check_digit(code), "typed", rules).text == wrong_check_digit(code)


@given(st.text(alphabet="0123456789", min_size=1, max_size=30))
def test_digit_codes_of_other_lengths_are_not_checked(code):
    if len(code) not in (8, 12, 13):
        assert validate_code(code, "typed").text == code


@pytest.mark.parametrize(
    ("raw", "text", "symbology"),
    [
        ("]E04006381333931", "4006381333931", "]E0"),
        ("]E0036000291452", "036000291452", "]E0"),  # UPC-A
        ("]E004252614", "04252614", "]E0"),  # UPC-E
        ("]E496385074", "96385074", "]E4"),  # EAN-8
        ("]E3400638133393112", "400638133393112", "]E3"),  # with a 2-digit add-on
        ("]E1", None, None),
        ("]C1ABC-123", "ABC-123", "]C1"),
        ("]Q1https://example.com/c/1", "https://example.com/c/1", "]Q1"),
        ("]d2010950110153000317", "010950110153000317", "]d2"),
        ("]Z", "]Z", None),  # too short to be an identifier: a code starting with "]"
        ("]%ABC", "]%ABC", None),  # not a symbology character
    ],
)
def test_aim_identifiers_are_recognised_and_stripped(raw, text, symbology):
    if text is None:
        with pytest.raises(BadCode, match="empty"):
            validate_code(raw, "serial")
        return
    assert validate_code(raw, "serial") == Code(text, symbology, "serial")


@given(st.sampled_from([12, 13]).flatmap(eans))
def test_an_ean_symbology_always_checks_the_digit(code):
    relaxed = CodeRules(verify_ean_digits=False)
    assert validate_code("]E0" + code, "serial", relaxed).symbology == "]E0"
    with pytest.raises(BadCode, match="check digit is wrong"):
        validate_code("]E0" + wrong_check_digit(code), "serial", relaxed)


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ("]E0ABCDEFGHIJKLM", "digits only"),
        ("]E0123", "not a valid length"),
        ("]E404252615", "check digit"),
        ("]E004252615", "UPC-E check digit"),
    ],
)
def test_malformed_ean_symbols_are_refused(raw, match):
    with pytest.raises(BadCode, match=match):
        validate_code(raw, "serial")


def test_a_symbology_known_from_outside_the_data_is_used():
    code = validate_code("4006381333931", "serial", symbology="]E0")
    assert code.symbology == "]E0"
    with pytest.raises(BadCode):
        validate_code(
            "4006381333932", "serial", CodeRules(verify_ean_digits=False), symbology="]E0"
        )


def test_bad_code_is_a_sentence_for_the_cashier():
    with pytest.raises(BadCode) as refused:
        validate_code("4006381333932", "serial")
    assert str(refused.value).startswith("Code refused: its check digit is wrong")
    assert refused.value.to_dict()["error"] == "bad_code"


def test_code_rules_come_from_the_config_table():
    rules = CodeRules.from_dict({"max_length": 32, "verify_ean_digits": False}, "terminal.toml")
    assert rules == CodeRules(max_length=32, verify_ean_digits=False)
    assert CodeRules.from_dict({}, "terminal.toml") == CodeRules()


def test_code_rules_config_errors_name_the_file_and_every_key():
    with pytest.raises(ConfigError) as error:
        CodeRules.from_dict(
            {"max_length": 0, "verify_ean_digits": "yes", "maxlen": 3}, "terminal.toml"
        )
    assert error.value.source == "terminal.toml"
    problems = " | ".join(error.value.problems)
    assert "devices.codes.maxlen: unknown key" in problems
    assert "devices.codes.max_length: must be a whole number from 1 to 4096" in problems
    assert "devices.codes.verify_ean_digits: must be true or false" in problems
    assert str(error.value).startswith("terminal.toml: ")


def test_a_gtin_in_a_gtin_symbology_is_a_product_barcode_and_never_a_card():
    from loyalty_pos.domain.gtin import is_gtin14, is_product_barcode

    assert is_product_barcode("09520123456788", "]I1")  # ITF-14
    assert is_product_barcode("4006381333931", "]E0")  # EAN-13
    assert is_product_barcode("09520123456788", "]e0")  # GS1 DataBar
    assert not is_product_barcode("09520123456788", "]C0")  # Code128: a card may be printed so
    assert not is_product_barcode("09520123456788", None)  # no identifier: the scanner did not say
    assert not is_product_barcode("09520123456787", "]I1")  # check digit wrong: not a GTIN
    assert not is_product_barcode("04A1B2C3D4E500", "]I1")
    assert is_gtin14("09520123456788") and not is_gtin14("4006381333931")
