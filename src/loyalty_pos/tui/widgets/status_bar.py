"""The status line: terminal id, online or offline with the last sync, events waiting to sync, and
the state of the card reader, the scanner and the receipt printer."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ..services import TerminalStatus
from ..words import clock

_STATE_STYLE = {"ready": "green", "absent": "yellow", "error": "bold red", "off": "dim"}
#: Short words: the whole line must fit 80 columns.
_STATE_WORD = {"ready": "ok", "absent": "absent", "error": "ERROR", "off": "off"}


class StatusBar(Static):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.status: TerminalStatus | None = None
        self.devices: dict[str, tuple[str, str, str | None]] = {}

    def show_status(self, status: TerminalStatus) -> None:
        self.status = status
        self._render_line()

    def show_device(self, name: str, kind: str, state: str, reason: str | None) -> None:
        self.devices[name] = (kind, state, reason)
        self._render_line()

    def device_state(self, kind: str) -> str:
        """The worst state among the devices of ``kind`` ("off" when none is configured)."""
        states = [state for k, state, _ in self.devices.values() if k == kind]
        for state in ("error", "absent", "ready"):
            if state in states:
                return state
        return "off"

    def on_resize(self) -> None:
        self._render_line()

    def _render_line(self) -> None:
        """The first of these that fits the width: everything; the held events and the last
        sync in fewer words; then only the devices that are not working (a cashier must still
        see a printer that is out, and the events the ledger holds back, at 80 columns)."""
        width = self.size.width
        line = self._line(long_words=True, every_device=True)
        for long_words, every_device in ((False, True), (False, False)):
            if not width or line.cell_len <= width:
                break
            line = self._line(long_words, every_device)
        self.update(line)
        reasons = [f"{name}: {why}" for name, (_, _, why) in self.devices.items() if why]
        self.tooltip = Text("\n".join(reasons)) if reasons else None

    def _line(self, long_words: bool, every_device: bool) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        s = self.status
        if s is not None:
            text.append(f" {s.terminal_id} ", style="bold reverse").append(" ")
            if s.standalone:  # its own record: nothing is ever sent, so no count of it either
                text.append("standalone", style="green")
            else:
                online = Text("online", "green") if s.online else Text("OFFLINE", "bold red")
                sync = f" · sync {clock(s.last_sync)}" if long_words else f" {clock(s.last_sync)}"
                text.append(online).append(sync)
                text.append(" │ ", style="dim").append(f"{s.waiting} to sync")
            if s.held:
                held = f"{s.held} HELD BY THE LEDGER" if long_words else f"{s.held} HELD"
                text.append(f" · {held}", style="bold red")
        kinds = [
            kind
            for kind in ("reader", "scanner", "printer")
            if every_device or self.device_state(kind) not in ("ready", "off")
        ]
        for kind in kinds:
            state = self.device_state(kind)
            text.append(" │ ", style="dim").append(f"{kind} ")
            text.append(_STATE_WORD.get(state, state), style=_STATE_STYLE.get(state, ""))
        if not kinds:
            text.append(" │ ", style="dim").append("devices ok", style="green")
        return text
