"""The item field: it has the focus whenever no window is open; Enter sends what was typed."""

from __future__ import annotations

from textual import events

from loyalty_pos.checkout import shown
from loyalty_pos.domain.errors import Refused

from ..messages import CodeScanned
from ..router import parse_entry
from .ordered_input import OrderedInput


class ItemField(OrderedInput):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(
            placeholder="Scan or type an item (3*CODE for 3), a card or a receipt id",
            **kwargs,  # type: ignore[arg-type]
        )

    def on_mount(self) -> None:
        self.border_title = "Item"

    def _on_paste(self, event: events.Paste) -> None:
        """Lines pasted (a list copied from a note) are an entry each, as if typed with their
        Enter, the first after what the field holds. A line that is no entry (``0*BREAD``) is
        said and none of them goes, the field as it was: a refusal leaves the basket as it was.
        Text without a line break is typed into the field, as Input does (Input kept the first
        line and dropped the others without a word)."""
        if "\n" not in event.text and "\r" not in event.text:
            return  # Input's own handler, after this one
        event.stop()
        event.prevent_default()
        pasted = event.text.splitlines()
        pasted[0] = self.value + pasted[0]
        entries: list[tuple[str, int]] = []
        for line in (line.strip() for line in pasted):
            if not line:
                continue
            try:
                entries.append(parse_entry(line))
            except Refused as e:
                self.notify(f"Nothing pasted was entered: {shown(line)}: {e}", severity="warning")
                return
        self.value = ""
        for code, qty in entries:
            self.post_message(CodeScanned(code, "typed", qty=qty))

    async def action_submit(self) -> None:
        text = self.value.strip()
        if not text:
            return
        try:
            code, qty = parse_entry(text)
        except Refused as e:
            self.notify(str(e), severity="warning")
            return
        self.value = ""
        self.post_message(CodeScanned(code, "typed", qty=qty))
