"""Card taps through the real PC/SC stack: pcscd with vsmartcard's virtual readers, a virtual card
of our own (hardware/virtual_card.py) on the far end, pyscard and the ReaderLoop on ours.

Told as the counter sees it: a customer taps, leaves the card lying there, taps again, pulls it
away too early, brings a card that will not give its UID; the IT person restarts pcscd or the
terminal starts before pcscd does. Every one of these ends with the next tap being read.
"""

from __future__ import annotations

import queue
import threading
import time

import pytest

from hardware.virtual_card import VirtualCard
from loyalty_pos.devices.events import DeviceEvent, StatusBoard
from loyalty_pos.domain.errors import DeviceError

from .conftest import PORT_0, PORT_1, READER_0, READER_1

pytestmark = pytest.mark.hardware

TAP_TIMEOUT = 3.0  # pcscd polls the virtual reader every 0.4 s; a tap is seen well within this
VPCD_POLL = 0.5


def next_event(events: queue.Queue[DeviceEvent], timeout: float = TAP_TIMEOUT) -> DeviceEvent:
    try:
        return events.get(timeout=timeout)
    except queue.Empty:
        pytest.fail(f"no DeviceEvent within {timeout} s")


def assert_no_event(events: queue.Queue[DeviceEvent], within: float) -> None:
    try:
        event = events.get(timeout=within)
    except queue.Empty:
        return
    pytest.fail(f"unexpected event {event}")


def wait_seen_removed(loop: object, reader: str = READER_0, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while reader in loop.cards_present:  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, "the loop never saw the card leave"
        time.sleep(0.01)


def wait_ready(board: StatusBoard, name: str = READER_0, timeout: float = 5.0) -> None:
    assert board.wait_for(name, "ready", timeout), f"{name} never became ready: {board.get(name)}"


def test_a_tap_gives_the_uid_in_upper_case_hex(pcscd, reader_loop, events, board):
    reader_loop(name_filter=READER_0)
    wait_ready(board)
    with VirtualCard(uid="04a1b2c3d4e5f6", port=PORT_0):
        event = next_event(events)
    assert (event.kind, event.text, event.source) == ("card", "04A1B2C3D4E5F6", "pcsc")
    assert event.device == READER_0
    assert event.symbology is None


@pytest.mark.parametrize("tag_type", [4, 2], ids=["type4", "type2"])
def test_the_card_number_comes_from_the_ndef_text_record(
    pcscd, reader_loop, events, board, tag_type
):
    reader_loop(name_filter=READER_0, card_source="ndef_text")
    wait_ready(board)
    with VirtualCard(uid="04A1B2C3D4E5F6", ndef_text="CARD-000123", tag_type=tag_type):
        event = next_event(events)
    assert event.text == "CARD-000123"


def test_a_card_left_on_the_reader_is_read_once(pcscd, reader_loop, events, board):
    reader_loop(name_filter=READER_0)
    wait_ready(board)
    with VirtualCard(uid="04000000000001"):
        next_event(events)
        assert_no_event(events, within=1.5)  # several pcscd polls with the card still there


def test_taking_the_card_away_and_tapping_again_reads_it_again(pcscd, reader_loop, events, board):
    loop = reader_loop(name_filter=READER_0)
    wait_ready(board)
    card = VirtualCard(uid="04000000000002")
    for _ in range(3):
        card.place()
        assert next_event(events).text == "04000000000002"
        card.remove()
        wait_seen_removed(loop)
    assert_no_event(events, within=0.5)


@pytest.mark.parametrize("tag_type", [4, 2], ids=["type4", "type2"])
def test_a_card_taken_away_the_moment_it_is_read_was_read(
    pcscd, reader_loop, events, board, tag_type
):
    """The virtual card says it was read (``tap(until_read=...)``, ``wait_read``) only once its
    answer holding the number's last bytes is on its way: it said so before answering, and a
    tap that pulled the card at that moment lost about one read in eight."""
    loop = reader_loop(name_filter=READER_0, card_source="ndef_text")
    wait_ready(board)
    card = VirtualCard(uid="04A1B2C3D4E5F6", ndef_text="CARD-000124", tag_type=tag_type)
    for _ in range(8):
        assert card.tap(until_read=TAP_TIMEOUT)
        event = next_event(events)
        assert (event.kind, event.text) == ("card", "CARD-000124")
        wait_seen_removed(loop)
        time.sleep(VPCD_POLL)  # vpcd's own presence poll sees it gone before the next tap


def test_a_card_already_on_the_reader_when_the_loop_starts_is_not_read(
    pcscd, reader_loop, events, board
):
    with VirtualCard(uid="04000000000003") as card:
        assert board.get(READER_0) is None
        time.sleep(0.6)  # let pcscd see it before the loop starts
        reader_loop(name_filter=READER_0)
        wait_ready(board)
        assert_no_event(events, within=1.0)
        assert not card.apdus
    card.place()
    assert next_event(events).text == "04000000000003"
    card.remove()


def test_two_readers_report_their_own_taps(pcscd, reader_loop, events, board):
    reader_loop(name_filter="Virtual PCD")
    wait_ready(board, READER_0)
    wait_ready(board, READER_1)
    with (
        VirtualCard(uid="04000000000010", port=PORT_0),
        VirtualCard(uid="04000000000011", port=PORT_1),
    ):
        got = {next_event(events).device: None for _ in range(2)}
        first, second = sorted(got)
    assert (first, second) == (READER_0, READER_1)


def test_the_name_filter_ignores_other_readers(pcscd, reader_loop, events, board):
    reader_loop(name_filter="pcd 00 01")  # case-insensitive part of the name
    wait_ready(board, READER_1)
    assert board.get(READER_0) is None
    with VirtualCard(uid="04000000000020", port=PORT_0) as ignored:
        assert_no_event(events, within=1.0)
    assert not ignored.apdus
    with VirtualCard(uid="04000000000021", port=PORT_1):
        assert next_event(events).device == READER_1


@pytest.mark.parametrize(
    ("card_source", "fault"),
    [("uid", "pull_on_uid"), ("ndef_text", "pull_on_read")],
)
def test_a_card_pulled_away_mid_read_is_a_status_and_the_next_tap_reads(
    pcscd, reader_loop, events, board, card_source, fault
):
    loop = reader_loop(name_filter=READER_0, card_source=card_source)
    wait_ready(board)
    pulled = VirtualCard(uid="04000000000030", ndef_text="CARD-30", fault=fault)
    pulled.place()
    status = board.wait_for(READER_0, "error", TAP_TIMEOUT)
    pulled.remove()
    assert status is not None
    assert "taken away" in (status.reason or "")
    assert events.empty()
    wait_seen_removed(loop)
    # After a failed read pcscd marks the slot empty itself; vpcd's own presence poll (every
    # 0.4 s) must also see the card gone, or a card placed before that poll is never announced.
    time.sleep(VPCD_POLL)
    with VirtualCard(uid="04000000000031", ndef_text="CARD-31"):
        event = next_event(events)
    assert event.text == ("04000000000031" if card_source == "uid" else "CARD-31")
    assert board.get(READER_0).state == "ready"  # type: ignore[union-attr]
    assert loop.running


def test_a_card_answering_6a81_to_get_data_is_refused_and_the_reader_keeps_working(
    pcscd, reader_loop, events, board
):
    loop = reader_loop(name_filter=READER_0)
    wait_ready(board)
    with VirtualCard(uid="04000000000040", fault="6a81"):
        status = board.wait_for(READER_0, "error", TAP_TIMEOUT)
    assert status is not None and "6A 81" in (status.reason or "")
    assert events.empty()
    wait_seen_removed(loop)
    with VirtualCard(uid="04000000000041"):
        assert next_event(events).text == "04000000000041"


def test_each_tap_that_cannot_be_read_is_told_and_the_reader_is_ready_once_the_card_is_gone(
    pcscd, reader_loop, events, board
):
    """The board tells only a change: a second tap failing for the same reason as the first
    (a customer's card that is not one of the program, tapped again) passed without a word,
    and the status bar said "reader ERROR" until a card was read."""
    errors: list[str | None] = []
    board.subscribe(
        lambda s: errors.append(s.reason) if (s.name, s.state) == (READER_0, "error") else None
    )
    loop = reader_loop(name_filter=READER_0)
    wait_ready(board)
    for told in (1, 2):
        with VirtualCard(uid="04000000000042", fault="6a81"):
            assert board.wait_for(READER_0, "error", TAP_TIMEOUT), board.get(READER_0)
        wait_seen_removed(loop)
        wait_ready(board, timeout=1.0)
        assert len(errors) == told and "6A 81" in (errors[-1] or "")
        time.sleep(VPCD_POLL)
    assert events.empty()


@pytest.mark.parametrize("how", ["killed", "stopped"])
def test_the_loop_survives_a_pcscd_restart_and_reads_the_next_tap(
    pcscd, reader_loop, events, board, how
):
    loop = reader_loop(name_filter=READER_0)
    wait_ready(board)
    with VirtualCard(uid="04000000000050"):
        next_event(events)
    pcscd.kill() if how == "killed" else pcscd.stop()
    assert board.wait_for("pcsc", "absent", 3.0, reason_contains="pcscd"), board.get("pcsc")
    # the service is marked absent first, then each reader it had (two updates, not one)
    assert board.wait_for(READER_0, "absent", 3.0, reason_contains="pcscd"), board.get(READER_0)
    time.sleep(0.5)  # a few failed reconnects, with backoff
    assert loop.running
    pcscd.start()
    wait_ready(board)
    with VirtualCard(uid="04000000000051"):
        assert next_event(events).text == "04000000000051"


def test_a_lost_call_is_told_as_pcscd_down_when_pcscd_no_longer_answers(pcscd_stopped, board):
    """A call cut short by a killed pcscd has come back as "access denied" (0x8010006A) rather
    than "no service": the loop asks the service before it names the reason."""
    from smartcard.Exceptions import CardRequestException
    from smartcard.scard import SCARD_W_SECURITY_VIOLATION

    from loyalty_pos.devices.pcsc import ReaderConfig, ReaderLoop

    loop = ReaderLoop(ReaderConfig(name_filter=READER_0), lambda _: None, board)
    cut_short = CardRequestException("Access denied", hresult=SCARD_W_SECURITY_VIOLATION)
    loop._lost(cut_short)  # pcscd is not running
    assert "pcscd" in (board.get("pcsc").reason or "")
    pcscd_stopped.start()
    loop._lost(cut_short)  # pcscd answers: the error is the reader's own
    assert board.get("pcsc").reason.startswith("PC/SC error")


def test_a_loop_started_before_pcscd_waits_for_it(pcscd_stopped, reader_loop, events, board):
    loop = reader_loop(name_filter=READER_0)
    status = board.wait_for("pcsc", "absent", 3.0)
    assert status is not None and "pcscd" in (status.reason or "")
    time.sleep(0.5)
    assert loop.running
    pcscd_stopped.start()
    wait_ready(board)
    with VirtualCard(uid="04000000000060"):
        assert next_event(events).text == "04000000000060"


def test_stop_returns_promptly_even_mid_wait(pcscd, reader_loop, board):
    loop = reader_loop(name_filter=READER_0, poll_timeout_s=5.0)
    wait_ready(board)
    started = time.monotonic()
    loop.stop()
    assert time.monotonic() - started < 1.0
    assert not loop.running


def test_a_failing_receiver_does_not_stop_the_reader(pcscd, board):
    from loyalty_pos.devices.pcsc import ReaderConfig, ReaderLoop

    received: list[DeviceEvent] = []
    calls = threading.Semaphore(0)

    def on_event(event: DeviceEvent) -> None:
        calls.release()
        if not received:
            received.append(event)
            raise RuntimeError("a bug in the receiver")
        received.append(event)

    with ReaderLoop(ReaderConfig(name_filter=READER_0), on_event, board) as loop:
        wait_ready(board)
        card = VirtualCard(uid="04000000000070")
        for _ in range(2):
            card.place()
            assert calls.acquire(timeout=TAP_TIMEOUT)
            card.remove()
            wait_seen_removed(loop)
    assert len(received) == 2


# -- one-shot functions the CLI calls ------------------------------------------------------------


def test_read_card_returns_the_uid_and_card_number(pcscd):
    from loyalty_pos.devices.commands import read_card
    from loyalty_pos.devices.pcsc import ReaderConfig

    with VirtualCard(uid="04A1B2C3D4E5F6", ndef_text="CARD-77", port=PORT_1):
        result = read_card("00 01", 3.0, ReaderConfig(card_source="ndef_text"))
    assert result == {
        "reader": READER_1,
        "uid": "04A1B2C3D4E5F6",
        "card": "CARD-77",
        "source": "pcsc",
    }


def test_read_card_without_a_card_says_so_in_a_sentence(pcscd):
    from loyalty_pos.devices.commands import read_card
    from loyalty_pos.devices.pcsc import ReaderConfig

    started = time.monotonic()
    with pytest.raises(DeviceError, match=r"No card was held to the reader within 0.5 seconds\."):
        read_card(None, 0.5, ReaderConfig(name_filter=READER_0))
    assert time.monotonic() - started < 2.0


def test_read_card_names_the_connected_readers_when_none_matches(pcscd):
    from loyalty_pos.devices.commands import read_card
    from loyalty_pos.devices.pcsc import ReaderConfig

    with pytest.raises(DeviceError, match="No card reader matching 'ACR122'.*Virtual PCD 00 00"):
        read_card("ACR122", 0.5, ReaderConfig())


def test_read_card_with_pcscd_down_says_to_start_it(pcscd_stopped):
    from loyalty_pos.devices.commands import read_card
    from loyalty_pos.devices.pcsc import ReaderConfig

    with pytest.raises(DeviceError, match="pcscd"):
        read_card(None, 0.5, ReaderConfig())


def test_card_read_when_pcscd_stops_while_it_waits_says_so_without_a_traceback(pcscd, tmp_path):
    """QA: `loyalty-pos card read` waiting for a tap when pcscd stopped said "stopped while the
    card was being read; tap the card again" (no card was there, and no tap would be read until
    pcscd ran again), then pyscard's "Exception ignored in PCSCCardRequest.__del__" with its
    traceback, as the process ended."""
    import subprocess
    import sys

    reading = subprocess.Popen(
        [sys.executable, "-m", "loyalty_pos.cli", "--home", str(tmp_path), "card", "read"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(2.0)  # waiting for a tap
    pcscd.stop()
    out, err = reading.communicate(timeout=30)
    assert reading.returncode == 1, out + err
    assert err.splitlines() == [
        "loyalty-pos: The PC/SC service (pcscd) stopped while waiting for a card: start it "
        "again (systemctl start pcscd.socket), then read the card again."
    ], err


def test_list_devices_shows_which_reader_has_a_card(pcscd):
    from loyalty_pos.devices.commands import list_devices
    from loyalty_pos.devices.pcsc import ReaderConfig

    with VirtualCard(uid="04000000000080", port=PORT_1):
        time.sleep(0.6)  # one pcscd poll
        listing = list_devices(ReaderConfig(name_filter=READER_1))
    assert listing["pcsc"] == {"state": "ready", "reason": None}
    readers = {reader["name"]: reader for reader in listing["readers"]}  # type: ignore[union-attr]
    assert readers[READER_0]["card_present"] is False
    assert readers[READER_0]["matches_filter"] is False
    assert readers[READER_1]["card_present"] is True
    assert readers[READER_1]["atr"].startswith("3B8F8001")
    assert isinstance(listing["serial_ports"], list)


def test_list_readers_with_pcscd_hung_says_so_instead_of_hanging(pcscd):
    """A pcscd that takes connections but answers nothing (hung on a reader's driver; here
    stopped with SIGSTOP): `loyalty-pos devices` and `card read` waited for ever."""
    import os
    import signal

    from loyalty_pos.devices.pcsc import PCSCD_STUCK, list_readers

    os.kill(pcscd.pid, signal.SIGSTOP)
    try:
        start = time.monotonic()
        answer: list[object] = []
        asking = threading.Thread(
            target=lambda: answer.append(list_readers(answer_within_s=1.0)), daemon=True
        )
        asking.start()
        asking.join(5.0)
        assert answer, "list_readers still waits on pcscd"
        assert answer[0] == ("error", PCSCD_STUCK, [])
        assert time.monotonic() - start < 2.0
    finally:
        os.kill(pcscd.pid, signal.SIGCONT)


def test_a_pcscd_that_stops_answering_under_the_reader_loop_is_said_and_its_return_too(
    pcscd, reader_loop, events, board
):
    """pcscd hung (stopped with SIGSTOP) while the app waits for taps: the reader loop waited
    inside pcscd's call for ever and the status bar went on saying "reader ready" to a cashier
    whose taps did nothing. Now the reader and the service are told as not answering within a
    few seconds, and ready again once pcscd answers, the next tap read."""
    import os
    import signal

    from loyalty_pos.devices.pcsc import PCSCD_STUCK, SERVICE

    loop = reader_loop(name_filter=READER_0)
    wait_ready(board)
    os.kill(pcscd.pid, signal.SIGSTOP)
    try:
        stuck = board.wait_for(READER_0, "error", 10.0)
        assert stuck is not None, f"still {board.get(READER_0)}"
        assert stuck.reason == PCSCD_STUCK
        assert board.wait_for(SERVICE, "error", 2.0) is not None  # told just after the reader
    finally:
        os.kill(pcscd.pid, signal.SIGCONT)
    wait_ready(board, timeout=10.0)
    wait_ready(board, SERVICE, timeout=2.0)
    time.sleep(VPCD_POLL)
    with VirtualCard(uid="04000000000099"):
        assert next_event(events).text == "04000000000099"
    assert loop.running


def test_list_devices_with_pcscd_down_reports_it_instead_of_raising(pcscd_stopped):
    from loyalty_pos.devices.commands import list_devices

    listing = list_devices()
    assert listing["pcsc"]["state"] == "absent"  # type: ignore[index]
    assert "pcscd" in listing["pcsc"]["reason"]  # type: ignore[index]
    assert listing["readers"] == []


def test_the_tap_latency_harness_times_taps_and_reads_through_pcscd(pcscd) -> None:
    """scripts/bench's tap figures: each tap gives one event; a card already seen reads again."""
    from hardware.tap_latency import measure_read_latency, measure_tap_latency

    taps = measure_tap_latency(3, start_pcscd=False)
    reads = measure_read_latency(5, start_pcscd=False)
    assert len(taps) == 3 and all(0 < t < 5 for t in taps)
    assert len(reads) == 5 and all(0 < r < 1 for r in reads)
