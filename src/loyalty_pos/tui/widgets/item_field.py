"""The item field: it has the focus whenever no window is open; Enter sends what was typed."""

from __future__ import annotations

from textual import events
from textual.widgets import Input

from loyalty_pos.domain.errors import Refused

from ..messages import CodeScanned
from ..router import parse_entry


class ItemField(Input):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(
            placeholder="Scan or type an item (3*CODE for 3), a card or a receipt id",
            **kwargs,  # type: ignore[arg-type]
        )

    def on_mount(self) -> None:
        self.border_title = "Item"

    async def _on_key(self, event: events.Key) -> None:
        """Enter sends what was typed here, in order with the keys before it. Left to Input's
        binding, it bubbled up to the app and came back behind the keys that followed it: a
        short code and its Enter typed as fast as a scanner types, then a scan, lost the code
        (the field already held the scan's keys, or had been put back) (QA)."""
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            await self.action_submit()
            return
        await super()._on_key(event)

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
