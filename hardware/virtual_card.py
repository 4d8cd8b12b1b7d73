"""A virtual NFC loyalty card for vsmartcard's virtual reader (vpcd), so tests and demos go
through the real PC/SC stack (pcscd, libpcsclite, pyscard) without a physical card or reader.

How vpcd sees a card: the card is a TCP *client* of the reader driver inside pcscd (127.0.0.1,
port 35963 for ``Virtual PCD 00 00``, 35964 for ``Virtual PCD 00 01``). Connecting places the card
on the reader, closing the socket takes it away. Both directions are framed as a 2-byte big-endian
length followed by that many bytes. A 1-byte message from the reader is a control code (0x00 power
off, 0x01 power on, 0x02 reset, 0x04 "send your ATR"; pcscd asks for the ATR on every presence
poll); anything longer is a command APDU, answered with data + SW1 SW2.

Because vpcd has no contactless front end, this card also answers the reader's pseudo-APDUs: GET
DATA for the UID (``FF CA 00 00 00``) and, for a Type 2 tag, READ BINARY of pages (``FF B0``). As a
Type 4 tag it carries the NFC Forum NDEF application (SELECT AID D2760000850101, capability
container E103, NDEF file E104, READ BINARY).

Library::

    with VirtualCard(uid="04A1B2C3D4E5F6", ndef_text="CARD-0001") as card:
        card.wait_read(timeout=2)       # the terminal has read it
    VirtualCard(uid="04A1B2C3D4E5F6").tap(hold=0.5)

Command line (a card on the first reader until Ctrl-C, or for --hold seconds)::

    python hardware/virtual_card.py --uid 04A1B2C3D4E5F6 [--text CARDNO] [--port 35963] [--hold S]

Fault modes, for tests of what goes wrong at a real counter: ``fault="6a81"`` answers GET DATA
with 6A 81 (function not supported, as some cards do); ``fault="pull_on_uid"`` and
``fault="pull_on_read"`` drop the connection instead of answering GET DATA / the first NDEF READ
BINARY, which is what a card pulled away mid-read looks like to pcscd.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import struct
import sys
import threading
import time
from typing import Literal

import ndef

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 35963

Fault = Literal["6a81", "pull_on_uid", "pull_on_read"]
FAULTS: tuple[str, ...] = ("6a81", "pull_on_uid", "pull_on_read")

# PC/SC part 3 ATRs: a contactless storage card (what a Mifare Classic 1K shows), an Ultralight
# (NFC Forum Type 2) and a bare ISO 14443-4 card (Type 4, e.g. DESFire / NTAG 424).
ATR_STORAGE_CARD = bytes.fromhex("3B8F8001804F0CA000000306030001000000006A")
ATR_TYPE2 = bytes.fromhex("3B8F8001804F0CA0000003060300030000000068")
ATR_TYPE4 = bytes.fromhex("3B80800101")

NDEF_AID = bytes.fromhex("D2760000850101")
CC_FILE = b"\xe1\x03"
NDEF_FILE = b"\xe1\x04"
SW_OK = b"\x90\x00"
SW_FILE_NOT_FOUND = b"\x6a\x82"
SW_FUNC_NOT_SUPPORTED = b"\x6a\x81"
SW_WRONG_P1P2 = b"\x6b\x00"
SW_INS_NOT_SUPPORTED = b"\x6d\x00"
SW_CMD_NOT_ALLOWED = b"\x69\x86"
MLE = 0x3B  # largest READ BINARY answer this card gives, announced in its capability container
MLC = 0x34

CTRL_OFF, CTRL_ON, CTRL_RESET, CTRL_ATR = 0x00, 0x01, 0x02, 0x04


def ndef_message(text: str, lang: str = "en") -> bytes:
    """The encoded NDEF message holding one text record."""
    return b"".join(ndef.message_encoder([ndef.TextRecord(text, lang)]))


class VirtualCard:
    """One virtual card. ``place()`` puts it on the reader, ``remove()`` takes it away.

    Attributes:
        uid: the UID returned to GET DATA, upper-case hex.
        ndef_text: the card number carried in an NDEF text record, or None for a UID-only card.
        apdus: every command APDU received while placed (for assertions).
        placed_at: ``time.monotonic()`` when the card was last placed (connection accepted).
    """

    def __init__(
        self,
        uid: str = "04A1B2C3D4E5F6",
        ndef_text: str | None = None,
        *,
        port: int = DEFAULT_PORT,
        host: str = DEFAULT_HOST,
        tag_type: Literal[2, 4] = 4,
        fault: Fault | None = None,
        atr: bytes | None = None,
        lang: str = "en",
    ) -> None:
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; choose from {', '.join(FAULTS)}")
        self.uid = uid.upper()
        self._uid_bytes = bytes.fromhex(uid)
        self.ndef_text = ndef_text
        self.port = port
        self.host = host
        self.tag_type = tag_type
        self.fault = fault
        if atr is None:
            if ndef_text is None:
                atr = ATR_STORAGE_CARD
            else:
                atr = ATR_TYPE2 if tag_type == 2 else ATR_TYPE4
        self.atr = atr
        message = ndef_message(ndef_text, lang) if ndef_text is not None else b""
        self._ndef_file = struct.pack(">H", len(message)) + message
        self._cc_file = struct.pack(
            ">HBHHBBHHBB",
            15,  # CCLEN
            0x20,  # mapping version 2.0
            MLE,
            MLC,
            0x04,  # NDEF file control TLV
            0x06,
            int.from_bytes(NDEF_FILE, "big"),
            max(len(self._ndef_file), 0x80),  # max NDEF file size
            0x00,  # read access granted
            0xFF,  # no write access
        )
        self._type2_memory = self._type2_image(message)
        # where the NDEF message ends in that memory: a reader stops reading there
        self._type2_end = 16 + (2 if len(message) < 0xFF else 4) + len(message)
        self.apdus: list[bytes] = []
        self.placed_at: float | None = None
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._read = threading.Event()
        self._answered_read = False  # the answer about to go holds the card number's last bytes
        self._gone = threading.Event()
        self._gone.set()
        self._selected_app = False
        self._selected_file: bytes | None = None

    # -- placing and removing -------------------------------------------------------------

    def place(self, timeout: float = 5.0) -> None:
        """Put the card on the reader: connect to vpcd (retrying until ``timeout`` while pcscd
        starts) and answer it from a background thread until ``remove()``."""
        if self._sock is not None:
            raise RuntimeError("the card is already on the reader")
        deadline = time.monotonic() + timeout
        while True:
            try:
                sock = socket.create_connection((self.host, self.port), timeout=1.0)
                break
            except OSError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(None)
        self._sock = sock
        self._read.clear()
        self._answered_read = False
        self._gone.clear()
        self._selected_app = False
        self._selected_file = None
        self.placed_at = time.monotonic()
        self._thread = threading.Thread(
            target=self._serve, args=(sock,), name=f"virtual-card-{self.port}", daemon=True
        )
        self._thread.start()

    def remove(self) -> None:
        """Take the card away (close the connection)."""
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._gone.set()

    def tap(self, hold: float = 0.5, *, until_read: float | None = None) -> bool:
        """Place the card, keep it there ``hold`` seconds (or until the terminal has read it,
        at most ``until_read`` seconds), take it away. Returns whether it was read."""
        self.place()
        try:
            if until_read is not None:
                return self.wait_read(until_read)
            time.sleep(hold)
            return self._read.is_set()
        finally:
            self.remove()

    def wait_read(self, timeout: float) -> bool:
        """Wait until a reader has read the card number (UID, or the NDEF record when present)."""
        return self._read.wait(timeout)

    def wait_gone(self, timeout: float) -> bool:
        """Wait until the connection has ended (removed, pulled by a fault, or pcscd stopped)."""
        return self._gone.wait(timeout)

    @property
    def on_reader(self) -> bool:
        return not self._gone.is_set()

    def __enter__(self) -> VirtualCard:
        self.place()
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    # -- the card itself ------------------------------------------------------------------

    def _serve(self, sock: socket.socket) -> None:
        try:
            while True:
                header = _recv_exact(sock, 2)
                if header is None:
                    return
                (length,) = struct.unpack(">H", header)
                message = _recv_exact(sock, length)
                if message is None:
                    return
                if length == 1:
                    if message[0] == CTRL_ATR:
                        _send(sock, self.atr)
                    elif message[0] in (CTRL_OFF, CTRL_ON, CTRL_RESET):
                        self._selected_app = False
                        self._selected_file = None
                    continue
                self.apdus.append(message)
                answer = self.answer(message)
                if answer is None:  # fault: pulled away mid-read
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
                    return
                _send(sock, answer)
                if self._answered_read:  # read once the reader has the last bytes, not before
                    self._read.set()
        except OSError:
            return
        finally:
            self._gone.set()

    def answer(self, apdu: bytes) -> bytes | None:
        """The response APDU to one command APDU; None means "drop the connection"."""
        cla, ins, p1, p2 = apdu[0], apdu[1], apdu[2], apdu[3]
        if cla == 0xFF and ins == 0xCA and p1 == 0x00:
            if self.fault == "pull_on_uid":
                return None
            if self.fault == "6a81":
                return SW_FUNC_NOT_SUPPORTED
            if self.ndef_text is None:
                self._answered_read = True
            return self._uid_bytes + SW_OK
        if cla == 0xFF and ins == 0xB0:
            if self.tag_type != 2:
                return SW_CMD_NOT_ALLOWED
            if self.fault == "pull_on_read":
                return None
            start = p2 * 4
            le = apdu[4] if len(apdu) > 4 and apdu[4] else 16
            if start >= len(self._type2_memory):
                return SW_WRONG_P1P2
            if start + le >= min(self._type2_end, len(self._type2_memory)):
                self._answered_read = True
            return self._type2_memory[start : start + le] + SW_OK
        if cla == 0x00 and ins == 0xA4:
            return self._select(p1, apdu)
        if cla == 0x00 and ins == 0xB0:
            return self._read_binary(p1, p2, apdu)
        return SW_INS_NOT_SUPPORTED

    def _select(self, p1: int, apdu: bytes) -> bytes:
        lc = apdu[4] if len(apdu) > 4 else 0
        data = apdu[5 : 5 + lc]
        if p1 == 0x04:
            if data == NDEF_AID and self.tag_type == 4 and self.ndef_text is not None:
                self._selected_app = True
                self._selected_file = None
                return SW_OK
            return SW_FILE_NOT_FOUND
        if p1 == 0x00 and self._selected_app and data in (CC_FILE, NDEF_FILE):
            self._selected_file = data
            return SW_OK
        return SW_FILE_NOT_FOUND

    def _read_binary(self, p1: int, p2: int, apdu: bytes) -> bytes | None:
        if self._selected_file is None:
            return SW_CMD_NOT_ALLOWED
        content = self._cc_file if self._selected_file == CC_FILE else self._ndef_file
        offset = (p1 << 8) | p2
        le = apdu[4] if len(apdu) > 4 else 0
        le = le or 256
        if offset > len(content):
            return SW_WRONG_P1P2
        if self._selected_file == NDEF_FILE:
            if self.fault == "pull_on_read":
                return None
            if offset + min(le, MLE) >= len(content):
                self._answered_read = True
        return content[offset : offset + min(le, MLE)] + SW_OK

    def _type2_image(self, message: bytes) -> bytes:
        """Memory of an NFC Forum Type 2 tag: UID/lock pages, CC on page 3, TLVs from page 4."""
        if len(message) < 0xFF:
            tlv = b"\x03" + bytes([len(message)]) + message + b"\xfe"
        else:
            tlv = b"\x03\xff" + struct.pack(">H", len(message)) + message + b"\xfe"
        data_size = max(48, -(-len(tlv) // 8) * 8)
        head = (self._uid_bytes + bytes(8))[:8] + bytes(4)
        cc = bytes([0xE1, 0x10, data_size // 8, 0x00])
        return head + cc + tlv + bytes(data_size - len(tlv))


def _recv_exact(sock: socket.socket, size: int) -> bytes | None:
    buffer = bytearray()
    while len(buffer) < size:
        # vpcd writes a message's length and body with separate send() calls; with Nagle on its
        # side and delayed ACKs on ours, the body would wait ~40 ms for our ACK of the length.
        # Acknowledge at once, as a card reader's own link would (Linux only; re-armed per read).
        if hasattr(socket, "TCP_QUICKACK"):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        chunk = sock.recv(size - len(buffer))
        if not chunk:
            return None
        buffer += chunk
    return bytes(buffer)


def _send(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(struct.pack(">H", len(payload)) + payload)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uid", default="04A1B2C3D4E5F6", help="UID in hex (GET DATA answer)")
    parser.add_argument("--text", default=None, help="card number in an NDEF text record")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="35963 or 35964")
    parser.add_argument("--tag-type", type=int, choices=(2, 4), default=4)
    parser.add_argument("--fault", choices=FAULTS, default=None)
    parser.add_argument("--hold", type=float, default=None, help="seconds on the reader")
    args = parser.parse_args(argv)
    card = VirtualCard(
        args.uid, args.text, port=args.port, tag_type=args.tag_type, fault=args.fault
    )
    try:
        card.place()
    except OSError as e:
        print(f"cannot reach vpcd on {DEFAULT_HOST}:{args.port} ({e}); is pcscd running?")
        return 1
    print(f"card {card.uid} on the reader at port {args.port}", flush=True)
    try:
        if args.hold is None:
            while card.on_reader:
                time.sleep(0.2)
        else:
            card.wait_gone(args.hold)
    except KeyboardInterrupt:
        pass
    finally:
        card.remove()
    print("card removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
