"""The app's one text field: Enter submits what was typed before it, in order with the keys."""

from __future__ import annotations

from textual import events
from textual.widgets import Input


class OrderedInput(Input):
    """Every field of the app is one of these (the item field, the windows' fields).

    Enter submits here, in order with the keys before and after it. Left to Input's binding, it
    bubbled up to the app and came back behind the keys that followed it: a text and its Enter
    typed as fast as a scanner types, then more keys, submitted the later keys too (QA: a short
    code typed before a scan was lost in the item field). The ``Submitted`` message carries the
    value as it was at the Enter: handlers read ``event.value``, not the field, which may hold
    the keys typed after it by then."""

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            await self.action_submit()
            return
        await super()._on_key(event)
