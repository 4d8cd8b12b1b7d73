"""The one validator for every code the terminal accepts: a card UID or NDEF card number from a
PC/SC reader, a barcode from a serial or keyboard-wedge scanner, a number typed by the cashier.

Deciding in one place what a valid code is keeps the sources from drifting apart (a wedge scanner
letting through an escape sequence the serial path refuses, say). The rules:

- printable ASCII only (0x20-0x7E); control characters, escape sequences and anything outside
  ASCII are refused; surrounding spaces are dropped;
- at most ``max_length`` characters (64 by default), at least one;
- an AIM symbology identifier at the start (``]E0``, ``]C1``, ``]Q1``, ...; ISO/IEC 15424) is
  recognised with biip, stripped, and kept as ``Code.symbology``;
- EAN/UPC check digits are verified when the symbology says EAN/UPC (``]E0``, ``]E3``, ``]E4``),
  and, when ``verify_ean_digits`` is on (the default), for any all-digit code of 8, 12 or 13
  digits. A store whose loyalty card numbers are 13 digits without an EAN check digit turns that
  off; card UIDs and NDEF card numbers from PC/SC are never EAN-checked (they are not barcodes).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

from biip import ParseError
from biip.checksums import gs1_standard_check_digit
from biip.symbology import ISOSymbology, SymbologyIdentifier
from biip.upc import Upc

from loyalty_pos.devices._config import TableReader
from loyalty_pos.domain.errors import Refused

SOURCES = ("pcsc", "serial", "wedge", "typed")
EAN_LENGTHS = (8, 12, 13)


#: What was wrong with a refused code, for a sentence in the cashier's words (``problem``).
Problem = Literal["characters", "empty", "too_long", "check_digit", "length"]


#: Why a scan was refused, in the cashier's words, by ``Problem``: every scanner says these (the
#: serial one and the keyboard wedge), after "The last scan was not read: scan it again.". The
#: technical reason (``BadCode.reason``: byte values, positions) is for the log.
SAID: dict[str, str] = {
    "check_digit": "the barcode's check digit did not add up (a smudged or damaged label?); "
    "if it fails again, type the number",
    "length": "the barcode had the wrong number of digits for its kind "
    "(a damaged label may have been misread)",
    "characters": "the scanner sent garbled characters (a loose cable or a wrong scanner "
    "setting; call IT if it keeps happening)",
    "too_long": "what arrived was too long to be an item, a card or a receipt",
    "empty": "nothing but spaces arrived",
}


class BadCode(Refused):
    """A code was refused; ``reason`` says why in words a cashier can act on, ``problem`` which
    kind of fault it was (``characters``: control characters, escape sequences or bytes beyond
    ASCII, i.e. line noise or a wrong baud rate; ``empty``; ``too_long``; ``check_digit``;
    ``length``: a length its symbology does not have)."""

    code = "bad_code"

    def __init__(self, reason: str, source: str, problem: Problem = "characters") -> None:
        super().__init__(f"Code refused: {reason}.", reason=reason, source=source)
        self.reason = reason
        self.source = source
        self.problem: Problem = problem

    @property
    def said(self) -> str:
        """Why, in the cashier's words (``SAID``)."""
        return SAID[self.problem]


@dataclass(frozen=True, slots=True)
class Code:
    """A validated code.

    Attributes:
        text: the code itself, printable ASCII, AIM identifier removed.
        symbology: the AIM identifier it came with (``"]E0"``), or None.
        source: where it came from: ``pcsc``, ``serial``, ``wedge`` or ``typed``.
    """

    text: str
    symbology: str | None
    source: str


@dataclass(frozen=True, slots=True)
class CodeRules:
    """Validator settings (not in ``terminal.toml`` yet: every till uses ``DEFAULT_RULES``).

    Attributes:
        max_length: longest code accepted.
        verify_ean_digits: check the EAN/UPC check digit of all-digit 8/12/13-character codes
            even without a symbology identifier saying EAN/UPC.
    """

    max_length: int = 64
    verify_ean_digits: bool = True

    @classmethod
    def from_dict(
        cls, table: Mapping[str, object], source: str, section: str = "devices.codes"
    ) -> CodeRules:
        reader = TableReader(table, source, section, cls)
        rules = cls(
            max_length=reader.integer("max_length", 1, 4096),
            verify_ean_digits=reader.boolean("verify_ean_digits"),
        )
        reader.done()
        return rules


DEFAULT_RULES = CodeRules()


def validate_code(
    raw: str | bytes,
    source: str,
    rules: CodeRules = DEFAULT_RULES,
    *,
    symbology: str | None = None,
) -> Code:
    """Validate one code from ``source``; return it as a ``Code`` or raise ``BadCode``.

    ``symbology`` is an AIM identifier known from outside the data (a scanner API that reports
    it separately); an identifier at the start of the data takes precedence.
    """
    text = _ascii(raw, source)
    for position, char in enumerate(text):
        if not " " <= char <= "~":
            what = "an escape sequence" if char == "\x1b" else "a control character"
            raise BadCode(f"it contains {what} (0x{ord(char):02X} at position {position})", source)
    text, symbology = _strip_symbology(text, symbology)
    text = text.strip(" ")
    if not text:
        raise BadCode("it is empty", source, "empty")
    if len(text) > rules.max_length:
        raise BadCode(
            f"it is {len(text)} characters long; at most {rules.max_length} are accepted",
            source,
            "too_long",
        )
    _verify_check_digits(text, symbology, rules, source)
    return Code(text=text, symbology=symbology, source=source)


def card_number_rules(rules: CodeRules) -> CodeRules:
    """The rules for UIDs and NDEF card numbers: the same, minus the EAN check digits."""
    return replace(rules, verify_ean_digits=False)


def _ascii(raw: str | bytes, source: str) -> str:
    if isinstance(raw, bytes):
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError as e:
            raise BadCode(
                f"it contains a byte that is not ASCII (0x{raw[e.start]:02X} at position "
                f"{e.start}); check the scanner's baud rate and parity",
                source,
            ) from e
    for position, char in enumerate(text := raw):
        if ord(char) > 0x7F:
            raise BadCode(
                f"it contains a character that is not ASCII ({char!r} at {position})", source
            )
    return text


def _strip_symbology(text: str, symbology: str | None) -> tuple[str, str | None]:
    if not text.startswith("]"):
        return text, symbology
    try:
        identifier = SymbologyIdentifier.extract(text)
    except (ParseError, ValueError, IndexError):
        return text, symbology  # a code that merely starts with "]"
    if len(identifier.value) < 3 or len(text) < len(identifier.value):
        return text, symbology
    return text[len(identifier.value) :], identifier.value


def _verify_check_digits(text: str, symbology: str | None, rules: CodeRules, source: str) -> None:
    if symbology is not None and symbology[1:2] == ISOSymbology.EAN_UPC.value:
        _verify_ean_symbology(text, symbology, source)
    elif rules.verify_ean_digits and text.isdigit() and len(text) in EAN_LENGTHS:
        _check_gs1(text, source)


def _verify_ean_symbology(text: str, symbology: str, source: str) -> None:
    modifier = symbology[2:]
    if not text.isdigit():
        raise BadCode(f"an EAN/UPC barcode ({symbology}) must be digits only", source, "length")
    if modifier == "0" and len(text) == 8:  # UPC-E, whose check digit needs the UPC-A expansion
        try:
            Upc.parse(text)
        except ParseError as e:
            raise BadCode(
                "its UPC-E check digit is wrong; scan it again", source, "check_digit"
            ) from e
    elif modifier == "0" and len(text) in (12, 13) or modifier == "4" and len(text) == 8:
        _check_gs1(text, source)
    elif modifier == "3" and len(text) - 13 in (2, 5):
        _check_gs1(text[:13], source)
    elif modifier == "3" and len(text) - 12 in (2, 5):
        _check_gs1(text[:12], source)
    elif modifier in ("1", "2") and len(text) == {"1": 2, "2": 5}[modifier]:
        return  # add-on symbols carry no check digit
    else:
        raise BadCode(f"{len(text)} digits is not a valid length for {symbology}", source, "length")


def _check_gs1(digits: str, source: str) -> None:
    expected = gs1_standard_check_digit(digits[:-1])
    if int(digits[-1]) != expected:
        raise BadCode(
            f"its check digit is wrong (the last digit should be {expected}); scan it again "
            "or type the number",
            source,
            "check_digit",
        )
