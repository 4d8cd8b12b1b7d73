"""PC/SC card readers (NFC loyalty cards) through pyscard and pcscd.

``ReaderLoop`` turns each tap on any matching reader into exactly one ``DeviceEvent``; ``read_card``
and ``list_readers`` are the one-shot versions for the CLI.

Why a loop of our own instead of pyscard's ``CardMonitor``: the monitor's thread dies silently when
pcscd restarts or the reader is unplugged (pyscard issues 82 and 128), and at a checkout that
means taps that do nothing until the terminal is restarted. The loop here keeps one
``CardRequest(timeout=poll_timeout_s, newcardonly=True)`` and calls its ``waitforcardevent()``,
which keeps the readers' states from one call to the next, so a card placed between two polls is
still seen, and a card left on the reader is not read again. Every PC/SC failure (pcscd stopped or
restarted, reader unplugged, card pulled mid-read, a card refusing GET DATA) becomes a status on
the ``StatusBoard`` and a retry with backoff (tenacity), never a dead thread.

The card id is the UID in upper-case hex (pseudo-APDU ``FF CA 00 00 00``) or, with
``card_source = "ndef_text"``, the card number in the first NDEF text record: NFC Forum Type 4
(SELECT the NDEF application, read the capability container, SELECT and READ BINARY the NDEF
file) or Type 2 (``FF B0`` page reads, TLV walk); the NDEF message itself is parsed by ndeflib.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import ndef
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
    wait_fixed,
)

from loyalty_pos.devices._config import TableReader
from loyalty_pos.devices.codes import (
    DEFAULT_RULES,
    BadCode,
    CodeRules,
    card_number_rules,
    validate_code,
)
from loyalty_pos.devices.events import DeviceEvent, StatusBoard
from loyalty_pos.domain.cards import mask_card
from loyalty_pos.domain.errors import DeviceError

try:
    from smartcard import scard
    from smartcard.CardRequest import CardRequest
    from smartcard.Exceptions import (
        CardRequestTimeoutException,
        NoCardException,
        SmartcardException,
    )
    from smartcard.pcsc.PCSCExceptions import BaseSCardException
    from smartcard.pcsc.PCSCReader import PCSCReader
except ImportError as _e:  # pyscard is the optional extra "pcsc"
    _PYSCARD_MISSING: ImportError | None = _e

    class SmartcardException(Exception):  # type: ignore[no-redef]
        """Stand-in so ``except SmartcardException`` stays valid without pyscard."""

    BaseSCardException = SmartcardException
else:
    _PYSCARD_MISSING = None

# pyscard raises from two hierarchies: smartcard.Exceptions and smartcard.pcsc.PCSCExceptions
PCSC_ERRORS: tuple[type[Exception], ...] = (SmartcardException, BaseSCardException)

logger = logging.getLogger(__name__)

CardSource = Literal["uid", "ndef_text"]
CARD_SOURCES: tuple[str, ...] = ("uid", "ndef_text")
SERVICE = "pcsc"  # the StatusBoard entry for the PC/SC service as a whole

PYSCARD_MISSING = (
    "PC/SC support is not installed: pip install 'loyalty-pos[pcsc]' and the "
    "libpcsclite/pcscd packages"
)
PCSCD_DOWN = (
    "The PC/SC service (pcscd) is not running; start it (systemctl start pcscd.socket) "
    "and the card reader will come back by itself."
)
PCSCD_STUCK = (
    "The PC/SC service (pcscd) does not answer; restart it (systemctl restart pcscd) and the "
    "card reader will come back by itself."
)
#: ``card read``'s words for the same: a one-shot command waits for nothing, so the reader
#: does not come back to it by itself; it is run again.
CARD_READ_PCSCD_DOWN = (
    "The PC/SC service (pcscd) is not running: start it (sudo systemctl start pcscd.socket; see "
    "hardware/README.md, 'PC/SC card readers'), then run `loyalty-pos card read` again."
)
CARD_READ_PCSCD_STUCK = (
    "The PC/SC service (pcscd) does not answer: restart it (sudo systemctl restart pcscd), then "
    "run `loyalty-pos card read` again."
)
#: ``devices``' words for the same: a listing ends at once; the app is what finds the reader.
DEVICES_PCSCD_DOWN = (
    "The PC/SC service (pcscd) is not running: start it (sudo systemctl start pcscd.socket; see "
    "hardware/README.md, 'PC/SC card readers'); a running checkout app then finds the reader by "
    "itself, and `loyalty-pos devices` lists it."
)
DEVICES_PCSCD_STUCK = (
    "The PC/SC service (pcscd) does not answer: restart it (sudo systemctl restart pcscd); a "
    "running checkout app then finds the reader by itself, and `loyalty-pos devices` lists it."
)
#: How long ``list_readers`` waits for pcscd to answer.
PCSCD_ANSWER_S = 5.0
#: How much longer than its own timeout the reader loop's wait on pcscd may last before the
#: reader is told as not answering (pcscd hung on a reader's driver, or stopped).
PCSCD_STALL_S = 5.0
CARD_GONE = "The card was taken away before it could be read; hold it on the reader until it beeps."

GET_UID = bytes.fromhex("FFCA000000")
SELECT_NDEF_APP = bytes.fromhex("00A4040007D276000085010100")
CC_FILE = bytes.fromhex("E103")


def require_pcsc() -> None:
    """Raise DeviceError with install instructions when pyscard cannot be imported."""
    if _PYSCARD_MISSING is not None:
        raise DeviceError(PYSCARD_MISSING, device=SERVICE) from _PYSCARD_MISSING


@dataclass(frozen=True, slots=True)
class ReaderConfig:
    """The ``[reader]`` table of ``terminal.toml``.

    Attributes:
        enabled: watch PC/SC readers at all.
        name_filter: only readers whose name contains this text (case-insensitive), e.g.
            ``"ACR122"``; None or empty = every reader.
        card_source: ``uid`` (the card's UID) or ``ndef_text`` (card number in an NDEF text
            record).
        poll_timeout_s: how long one wait for a card lasts before the loop looks at the readers
            again (and notices a stop request).
    """

    enabled: bool = True
    name_filter: str | None = None
    card_source: CardSource = "uid"
    poll_timeout_s: float = 0.5

    @classmethod
    def from_dict(
        cls, table: Mapping[str, object], source: str, section: str = "devices.reader"
    ) -> ReaderConfig:
        reader = TableReader(table, source, section, cls)
        config = cls(
            enabled=reader.boolean("enabled"),
            name_filter=reader.text("name_filter", optional=True),
            card_source=reader.text("card_source", choices=CARD_SOURCES),
            poll_timeout_s=reader.number("poll_timeout_s", 0.05, 10.0),
        )
        reader.done()
        return config

    def matches(self, reader_name: str) -> bool:
        return not self.name_filter or self.name_filter.casefold() in reader_name.casefold()


@dataclass(frozen=True, slots=True)
class CardRead:
    """What was read from one card: its UID and/or its NDEF card number."""

    reader: str
    uid: str | None
    ndef_text: str | None

    def card_id(self, card_source: CardSource) -> str | None:
        return self.uid if card_source == "uid" else self.ndef_text


# -- reading one card ------------------------------------------------------------------------


def read_card_on(reader: str, card_source: CardSource, *, want_uid: bool = False) -> CardRead:
    """Read the card on ``reader``, retrying twice on a transient PC/SC error while the card is
    still there. Raises DeviceError with a sentence for the cashier."""
    require_pcsc()
    retrying = Retrying(
        stop=stop_after_attempt(3),
        wait=wait_fixed(0.05),
        retry=retry_if_exception(
            lambda e: isinstance(e, PCSC_ERRORS) and not isinstance(e, NoCardException)
        ),
        reraise=True,
    )
    try:
        return retrying(_read_once, reader, card_source, want_uid)
    except PCSC_ERRORS as e:
        raise _translate(e, reader) from e


def _read_once(reader: str, card_source: CardSource, want_uid: bool) -> CardRead:
    connection = PCSCReader(reader).createConnection()
    try:
        connection.connect()
        uid: str | None = None
        text: str | None = None
        if card_source == "uid":
            uid = _read_uid(connection, reader)
        else:
            text = _read_ndef_text(connection, reader)
            if want_uid:
                try:
                    uid = _read_uid(connection, reader)
                except DeviceError:
                    uid = None  # a card that keeps its UID to itself; the number is what counts
        return CardRead(reader=reader, uid=uid, ndef_text=text)
    finally:
        for close in (connection.disconnect, connection.release):
            try:
                close()
            except PCSC_ERRORS:
                pass  # the card or the service is already gone; nothing to hand back


def _transmit(connection: Any, apdu: bytes) -> tuple[bytes, int]:
    data, sw1, sw2 = connection.transmit(list(apdu))
    return bytes(data), (sw1 << 8) | sw2


def _read_uid(connection: Any, reader: str) -> str:
    data, sw = _transmit(connection, GET_UID)
    if sw == 0x6A81:
        raise DeviceError(
            "This card does not give out its UID (it answered 6A 81, function not supported); "
            "it is not a card of the program.",
            device=reader,
        )
    if sw != 0x9000 or not data:
        raise DeviceError(
            f"The card answered {sw:04X} when asked for its UID; tap it again.", device=reader
        )
    return data.hex().upper()


def _read_ndef_text(connection: Any, reader: str) -> str:
    message = _read_type4_ndef(connection, reader)
    if message is None:
        message = _read_type2_ndef(connection, reader)
    if message is None:
        raise DeviceError("The card carries no NDEF data with a card number.", device=reader)
    try:
        records = list(ndef.message_decoder(message))
    except ndef.DecodeError as e:
        raise DeviceError("The card's NDEF data is damaged; tap it again.", device=reader) from e
    for record in records:
        if isinstance(record, ndef.TextRecord):
            return str(record.text)
    raise DeviceError("The card has no NDEF text record with a card number.", device=reader)


def _read_type4_ndef(connection: Any, reader: str) -> bytes | None:
    """NFC Forum Type 4 Tag: NDEF application, capability container, NDEF file."""
    _, sw = _transmit(connection, SELECT_NDEF_APP)
    if sw != 0x9000:
        return None  # not a Type 4 tag (or no NDEF application): try Type 2
    _select_file(connection, CC_FILE, reader)
    cc = _read_binary(connection, 0, 15, reader)
    if len(cc) < 15 or cc[7] != 0x04:
        raise DeviceError("The card's NDEF capability container is not valid.", device=reader)
    max_read = max(1, min(int.from_bytes(cc[3:5], "big"), 0xFF))
    file_id, max_size, read_access = cc[9:11], int.from_bytes(cc[11:13], "big"), cc[13]
    if read_access != 0x00:
        raise DeviceError("The card's NDEF data is read-protected.", device=reader)
    _select_file(connection, file_id, reader)
    length = int.from_bytes(_read_binary(connection, 0, 2, reader), "big")
    if length > max_size - 2:
        raise DeviceError("The card's NDEF file length is not valid.", device=reader)
    message = bytearray()
    while len(message) < length:
        chunk = _read_binary(
            connection, 2 + len(message), min(max_read, length - len(message)), reader
        )
        if not chunk:
            raise DeviceError("The card's NDEF file ended early; tap it again.", device=reader)
        message += chunk
    return bytes(message[:length])


def _select_file(connection: Any, file_id: bytes, reader: str) -> None:
    _, sw = _transmit(connection, bytes([0x00, 0xA4, 0x00, 0x0C, len(file_id)]) + file_id)
    if sw != 0x9000:
        raise DeviceError(
            f"The card refused to open its NDEF file {file_id.hex().upper()} ({sw:04X}).",
            device=reader,
        )


def _read_binary(connection: Any, offset: int, length: int, reader: str) -> bytes:
    apdu = bytes([0x00, 0xB0, offset >> 8, offset & 0xFF, length & 0xFF])
    data, sw = _transmit(connection, apdu)
    if sw != 0x9000:
        raise DeviceError(f"The card refused a read ({sw:04X}); tap it again.", device=reader)
    return data


def _read_type2_ndef(connection: Any, reader: str) -> bytes | None:
    """NFC Forum Type 2 Tag: capability container on page 3, TLV blocks from page 4, read 16
    bytes (4 pages) at a time with the reader's READ BINARY pseudo-APDU."""
    memory = _Type2Memory(connection, reader)
    cc = memory.page3()
    if cc is None or cc[0] != 0xE1:
        return None
    size = cc[2] * 8
    position = 0
    while position < size:
        tag = memory.read(position, 1)[0]
        if tag == 0x00:  # NULL TLV
            position += 1
            continue
        if tag == 0xFE:  # terminator: no NDEF message
            return None
        length = memory.read(position + 1, 1)[0]
        header = 2
        if length == 0xFF:
            length = int.from_bytes(memory.read(position + 2, 2), "big")
            header = 4
        if tag == 0x03:
            if position + header + length > size:
                raise DeviceError("The card's NDEF data runs past its memory.", device=reader)
            return memory.read(position + header, length)
        position += header + length
    return None


class _Type2Memory:
    """Lazily read data area of a Type 2 tag, starting at page 4."""

    def __init__(self, connection: Any, reader: str) -> None:
        self._connection = connection
        self._reader = reader
        self._blocks: dict[int, bytes] = {}

    def _fetch(self, page: int) -> tuple[bytes, int]:
        return _transmit(self._connection, bytes([0xFF, 0xB0, page >> 8, page & 0xFF, 0x10]))

    def page3(self) -> bytes | None:
        data, sw = self._fetch(3)
        return data[:4] if sw == 0x9000 and len(data) >= 4 else None

    def read(self, offset: int, length: int) -> bytes:
        out = bytearray()
        while len(out) < length:
            block, within = divmod(offset + len(out), 16)
            if block not in self._blocks:
                data, sw = self._fetch(4 + block * 4)
                if sw != 0x9000 or len(data) < 16:
                    raise DeviceError(
                        f"The card refused a read ({sw:04X}); tap it again.", device=self._reader
                    )
                self._blocks[block] = data[:16]
            out += self._blocks[block][within : within + length - len(out)]
        return bytes(out)


def _hresult(e: BaseException) -> int:
    value = getattr(e, "hresult", -1)
    return value & 0xFFFFFFFF if isinstance(value, int) else -1


def _service_gone(e: BaseException) -> bool:
    if _PYSCARD_MISSING is not None:
        return False
    return _hresult(e) in {
        scard.SCARD_E_NO_SERVICE & 0xFFFFFFFF,
        scard.SCARD_E_SERVICE_STOPPED & 0xFFFFFFFF,
        scard.SCARD_F_COMM_ERROR & 0xFFFFFFFF,
        scard.SCARD_E_INVALID_HANDLE & 0xFFFFFFFF,
    }


def _service_answers() -> bool:
    """Whether pcscd takes a new context now. A call cut short by pcscd's death does not always
    fail with a "no service" code (a killed daemon has also been seen to answer "access
    denied"), so a loss is classified by asking the service, not by the code alone."""
    hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hresult != scard.SCARD_S_SUCCESS:
        return False
    scard.SCardReleaseContext(context)
    return True


def _context_of(request: Any) -> Any:
    """The PC/SC context inside a CardRequest (pyscard keeps it on the wrapped request)."""
    inner = getattr(request, "pcsccardrequest", None)
    return getattr(inner, "hcontext", None)


def _translate(e: Exception, reader: str) -> DeviceError:
    if _service_gone(e):
        return DeviceError(
            "The PC/SC service stopped while the card was being read; tap the card again.",
            device=reader,
        )
    return DeviceError(CARD_GONE, device=reader, pcsc_error=str(e))


# -- the reader loop -------------------------------------------------------------------------


class ReaderLoop:
    """Watches the PC/SC readers matching the config in a worker thread; one ``DeviceEvent``
    (kind ``card``, source ``pcsc``) per tap is handed to ``on_event``.

    ``on_event`` is called on the worker thread and must only hand the event over (Textual:
    ``app.post_message``; tests: ``queue.put``). Start with ``start()`` (or ``with``), stop with
    ``stop()``; statuses go to ``board`` under ``pcsc`` (the service) and each reader's name.
    """

    def __init__(
        self,
        config: ReaderConfig,
        on_event: Callable[[DeviceEvent], None],
        board: StatusBoard | None = None,
        *,
        rules: CodeRules = DEFAULT_RULES,
        reconnect_max_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        require_pcsc()
        self.config = config
        self.board = board if board is not None else StatusBoard()
        self._on_event = on_event
        self._rules = card_number_rules(rules)
        self._reconnect_max_s = reconnect_max_s
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._request: Any = None
        self._known: set[str] = set()
        self._present: frozenset[str] = frozenset()
        self._failed: set[str] = set()  # readers whose card could not be read and is still there
        self._beat = time.monotonic()  # when the loop last came back from pcscd, or went to it
        self._stalled = False  # the watchdog has told the readers as not answering

    # -- control, from any thread --

    def start(self) -> ReaderLoop:
        if self._thread is not None and self._thread.is_alive():
            return self
        self._stop.clear()
        self._beat = time.monotonic()
        self._thread = threading.Thread(target=self._supervise, name="pcsc-reader", daemon=True)
        self._thread.start()
        threading.Thread(target=self._watchdog, name="pcsc-watchdog", daemon=True).start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout
        while self._thread is not None and self._thread.is_alive():
            # Wake the wait now rather than at its timeout. Repeated, because a cancel that
            # arrives just before the thread enters its next wait is lost.
            with self._lock:
                context = _context_of(self._request)
                if context is not None:
                    scard.SCardCancel(context)
            self._thread.join(min(0.05, max(deadline - time.monotonic(), 0)))
            if time.monotonic() >= deadline:
                break

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def cards_present(self) -> frozenset[str]:
        """Readers that have a card on them, as the loop last saw it."""
        return self._present

    def __enter__(self) -> ReaderLoop:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the watchdog thread --

    def _watchdog(self) -> None:
        """Tell the readers as not answering when the loop has waited on pcscd far longer than
        its own timeout: a pcscd hung on a reader's driver (or stopped) never returns the wait,
        and the status bar went on saying "ready" to a cashier whose taps did nothing. The loop
        tells them ready again when pcscd answers (``_came_back``)."""
        thread = self._thread
        while not self._stop.wait(0.5):
            if thread is None or not thread.is_alive():
                return
            waited = time.monotonic() - self._beat
            if self._stalled or waited <= self.config.poll_timeout_s + PCSCD_STALL_S:
                continue
            self._stalled = True
            logger.warning("pcscd has not answered the reader loop for %.0f s", waited)
            for name in sorted(self._known):
                self.board.update(name, "reader", "error", PCSCD_STUCK)
            self.board.update(SERVICE, "reader", "error", PCSCD_STUCK)

    def _came_back(self) -> None:
        """The loop's wait on pcscd has returned: after a stall, the readers it names next are
        announced again (ready), and the service with them."""
        self._beat = time.monotonic()
        if self._stalled:
            self._stalled = False
            self._known.clear()

    # -- the worker thread --

    def _supervise(self) -> None:
        while not self._stop.is_set():
            try:
                request = self._connect()
                if request is None:
                    return
                try:
                    self._watch(request)
                finally:
                    self._release(request)
            except Exception:  # outermost edge of the thread: log, report, start over
                logger.exception("card reader loop failed; restarting it")
                self.board.update(
                    SERVICE, "reader", "error", "The card reader loop failed; restarting it."
                )
                self._stop.wait(1.0)

    def _connect(self) -> Any:
        retrying = Retrying(
            retry=retry_if_exception_type(PCSC_ERRORS),
            wait=wait_exponential(multiplier=0.1, max=self._reconnect_max_s),
            stop=lambda _: self._stop.is_set(),
            sleep=self._pause,
            before_sleep=self._service_down,
            retry_error_callback=lambda _: None,
        )
        return retrying(self._new_request)

    def _new_request(self) -> Any:
        self._beat = time.monotonic()
        request = CardRequest(timeout=self.config.poll_timeout_s, newcardonly=True)
        self._came_back()
        with self._lock:
            self._request = request
        return request

    def _release(self, request: Any) -> None:
        with self._lock:
            self._request = None
            try:
                request.__exit__(None, None, None)  # CardRequest's way to release its context
            except PCSC_ERRORS:
                # The service that owned the context is gone; forget it, or pyscard's __del__
                # tries again and prints the failure.
                request.pcsccardrequest.hcontext = None

    def _pause(self, seconds: float) -> None:
        self._stop.wait(seconds)  # a backoff that stop() cuts short
        self._beat = time.monotonic()

    def _service_down(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        self._lost(error)

    def _lost(self, error: BaseException | None) -> None:
        gone = error is None or _service_gone(error) or not _service_answers()
        reason = PCSCD_DOWN if gone else f"PC/SC error: {error}"
        for name in self._known:  # the readers first: whoever sees the service gone sees them gone
            self.board.update(name, "reader", "absent", reason)
        self.board.update(SERVICE, "reader", "absent", reason)
        self._known.clear()
        self._present = frozenset()
        self._failed.clear()
        self._stalled = False

    def _watch(self, request: Any) -> None:
        """Follow card events until stopped or the service is lost (then return)."""
        present: set[str] | None = None  # None until the first answer: that one is the baseline
        while not self._stop.is_set():
            self._beat = time.monotonic()
            try:
                cards = request.waitforcardevent()
            except CardRequestTimeoutException:
                cards = None
            except PCSC_ERRORS as e:
                self._lost(e)
                return
            if self._stop.is_set():
                return
            self._came_back()
            try:
                self._update_readers(str(reader) for reader in request.getReaders())
            except PCSC_ERRORS as e:
                self._lost(e)
                return
            if cards is None:
                present = present if present is not None else set()
                continue
            now = {card.reader for card in cards if self.config.matches(card.reader)}
            new = set() if present is None else now - present  # cards already there are old
            present = now
            self._present = frozenset(now)
            for reader in sorted(self._failed - now):
                # The card that could not be read is gone: the reader is ready for the next tap,
                # and the next failure is news (the board tells only a change, so a second tap
                # failing for the same reason passed without a word to the cashier).
                self._failed.discard(reader)
                self.board.update(reader, "reader", "ready")
            for reader in sorted(new):
                self._read_and_emit(reader)

    def _update_readers(self, names: Iterable[str]) -> None:
        connected = list(names)
        matching = [name for name in connected if self.config.matches(name)]
        for name in matching:
            if name not in self._known:
                self._known.add(name)
                self.board.update(name, "reader", "ready")
        for name in self._known - set(matching):
            self._known.discard(name)
            self.board.update(name, "reader", "absent", "The card reader was unplugged.")
        if matching:
            self.board.update(SERVICE, "reader", "ready")
        elif connected:
            self.board.update(
                SERVICE,
                "reader",
                "absent",
                f"No card reader matching {self.config.name_filter!r} is connected "
                f"(connected: {', '.join(connected)}).",
            )
        else:
            self.board.update(SERVICE, "reader", "absent", "No card reader is connected.")

    def _read_and_emit(self, reader: str) -> None:
        self._beat = time.monotonic()
        try:
            read = read_card_on(reader, self.config.card_source)
            code = validate_code(read.card_id(self.config.card_source) or "", "pcsc", self._rules)
        except (DeviceError, BadCode) as e:
            self._failed.add(reader)
            self.board.update(reader, "reader", "error", e.message)
            return
        self._failed.discard(reader)
        self.board.update(reader, "reader", "ready")
        event = DeviceEvent.from_code(code, kind="card", device=reader, at=self._clock())
        logger.info("card %s on %s", mask_card(event.text), reader)
        try:
            self._on_event(event)
        except Exception:  # the receiver's bug must not stop the reader
            logger.exception("on_event failed for a card on %s", reader)


# -- one-shot functions for the CLI ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReaderInfo:
    name: str
    matches_filter: bool
    card_present: bool
    atr: str | None


def list_readers(
    config: ReaderConfig | None = None, *, answer_within_s: float = PCSCD_ANSWER_S
) -> tuple[str, str | None, list[ReaderInfo]]:
    """The PC/SC service state (``ready``/``absent``/``error``, reason) and every reader with
    whether a card is on it. Never raises for a missing service: that is a state, and so is a
    pcscd that does not answer within ``answer_within_s`` (one hung on a reader's driver holds
    every call for ever: ``loyalty-pos devices`` and ``card read`` hung with it)."""
    config = config or ReaderConfig()
    try:
        require_pcsc()
    except DeviceError as e:
        return "error", e.message, []
    answer: list[tuple[str, str | None, list[ReaderInfo]]] = []
    asking = threading.Thread(
        target=lambda: answer.append(_list_readers(config)), name="pcsc-list", daemon=True
    )
    asking.start()
    asking.join(answer_within_s)
    if not answer:
        return "error", PCSCD_STUCK, []
    return answer[0]


def _list_readers(config: ReaderConfig) -> tuple[str, str | None, list[ReaderInfo]]:
    hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hresult != scard.SCARD_S_SUCCESS:
        return "absent", PCSCD_DOWN, []
    try:
        hresult, names = scard.SCardListReaders(context, [])
        if hresult == scard.SCARD_E_NO_READERS_AVAILABLE:
            return "absent", "No card reader is connected.", []
        if hresult != scard.SCARD_S_SUCCESS:
            return "error", scard.SCardGetErrorMessage(hresult), []
        states = [(name, scard.SCARD_STATE_UNAWARE) for name in names]
        hresult, new_states = scard.SCardGetStatusChange(context, 0, states)
        if hresult != scard.SCARD_S_SUCCESS:
            new_states = [(name, 0, []) for name in names]
    finally:
        scard.SCardReleaseContext(context)
    readers = [
        ReaderInfo(
            name=name,
            matches_filter=config.matches(name),
            card_present=bool(event & scard.SCARD_STATE_PRESENT),
            atr=bytes(atr).hex().upper() if event & scard.SCARD_STATE_PRESENT and atr else None,
        )
        for name, event, atr in new_states
    ]
    return "ready", None, readers


def read_card(reader: str | None, timeout: float, config: ReaderConfig) -> dict[str, object]:
    """Wait up to ``timeout`` seconds for a card on ``reader`` (a name or part of one; None =
    the config's filter) and read it; a card already on the reader counts.

    Returns ``{"reader", "uid", "card", "source": "pcsc"}``; raises DeviceError with a sentence.
    """
    require_pcsc()
    wanted = ReaderConfig(name_filter=reader) if reader else config
    state, reason, readers = list_readers(wanted)
    if state != "ready":
        one_shot = {PCSCD_DOWN: CARD_READ_PCSCD_DOWN, PCSCD_STUCK: CARD_READ_PCSCD_STUCK}
        raise DeviceError(one_shot.get(reason or PCSCD_DOWN, reason or ""), device=SERVICE)
    names = [info.name for info in readers if info.matches_filter]
    if not names:
        connected = ", ".join(info.name for info in readers) or "none"
        raise DeviceError(
            f"No card reader matching {wanted.name_filter!r} is connected "
            f"(connected: {connected}).",
            device=SERVICE,
        )
    request = None
    try:
        request = CardRequest(timeout=timeout, readers=names, newcardonly=False)
        service = request.waitforcard()
    except CardRequestTimeoutException as e:
        raise DeviceError(
            f"No card was held to the reader within {timeout:g} second{'' if timeout == 1 else 's'}.",
            device=names[0],
        ) from e
    except PCSC_ERRORS as e:
        if _service_gone(e):  # no card was there to read: the wait itself ended
            raise DeviceError(
                "The PC/SC service (pcscd) stopped while waiting for a card: start it again "
                "(systemctl start pcscd.socket), then read the card again.",
                device=SERVICE,
            ) from e
        raise _translate(e, names[0]) from e
    finally:
        if request is not None:
            try:
                request.__exit__(None, None, None)  # CardRequest's way to release its context
            except PCSC_ERRORS:
                # The service that owned the context is gone: forget it, or pyscard's __del__
                # tries again as the process ends and prints its traceback.
                request.pcsccardrequest.hcontext = None
    found = service.connection.getReader()
    try:
        service.connection.release()
    except PCSC_ERRORS:
        pass  # only its context; the read below opens its own
    read = read_card_on(found, config.card_source, want_uid=True)
    card = read.card_id(config.card_source)
    try:
        code = validate_code(card or "", "pcsc", card_number_rules(DEFAULT_RULES))
    except BadCode as e:
        raise DeviceError(e.message, device=found) from e
    return {"reader": found, "uid": read.uid, "card": code.text, "source": "pcsc"}
