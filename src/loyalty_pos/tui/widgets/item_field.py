"""The item field: it has the focus whenever no window is open; Enter sends what was typed."""

from __future__ import annotations

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
