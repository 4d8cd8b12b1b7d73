"""A small form window: labelled fields, Enter to go on, the job it confirms, refusals shown in it.

Used for the card number (F2), enrolment (F4), a free-amount line (F7), the manager PIN and the
manager's actions. Enter in a field moves to the next one; Enter in the last one confirms; a code
scanned into a field does the same as typing it and Enter. With a
``submit`` job the window stays open on a refusal and shows it in plain words.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Grid, Vertical
from textual.widgets import Input, Label, Static

from loyalty_pos.domain.errors import Refused

from ..messages import CodeScanned, ServiceDone, ServiceRefused
from ..services import Job
from ..widgets.ordered_input import OrderedInput
from .base import FREE_TEXT, PosModal


@dataclass(frozen=True, slots=True)
class Field:
    """Attributes:
    scannable: a code scanned while the form is open goes into this field.
    check: what is wrong with the value typed, said at its Enter, before the next field.
    lookup: the same, when it needs the cache: run on the service thread at the field's Enter
        (or scan), and the form goes on to the next field once it has found nothing wrong.
    card_check: a card field's: what is wrong with the code as a card (a product's barcode,
        ``checkout.product_barcode``), given the AIM identifier it was scanned with (None when
        typed). Run on the service thread at the field's Enter or scan, and again as the form
        confirms (the field may have been left by Tab); a card tapped on the reader is a card
        by the reader's word and is not checked.
    """

    name: str
    label: str
    value: str = ""
    placeholder: str = ""
    password: bool = False
    restrict: str | None = None
    scannable: bool = False
    check: Callable[[str], str | None] | None = None
    lookup: Callable[[str], str | None] | None = None
    card_check: Callable[[str, str | None], str | None] | None = None


Values = dict[str, str]
#: ``ServiceDone.what`` of a field's ``lookup``.
FIELD_LOOKUP = "field-lookup"


class FormScreen(PosModal[Any]):
    """Dismisses with the values (no ``submit``) or with the job's result."""

    def __init__(
        self,
        title: str,
        fields: Sequence[Field],
        *,
        submit: Callable[[Values], Job] | None = None,
        check: Callable[[Values], str | None] | None = None,
        intro: str = "",
        hint: str = "Enter: next / confirm · Esc: cancel",
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.title_text = title
        self.fields = list(fields)
        self._submit = submit
        self._check = check
        self.intro = intro
        self.hint = hint
        self.busy = False
        self.looking_up = 0  # fields' lookups sent to the service thread and not answered yet
        #: The scan that filled each field, by field name: where its value came from.
        self._scans: dict[str, CodeScanned] = {}

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog form") as dialog:
            dialog.border_title = self.title_text
            if self.intro:
                yield Static(self.intro, classes="intro", markup=False)
            with Grid(classes="fields"):
                for field in self.fields:
                    yield Label(field.label)
                    yield OrderedInput(
                        value=field.value,
                        placeholder=field.placeholder,
                        password=field.password,
                        restrict=field.restrict,
                        id=f"field-{field.name}",
                        classes="" if field.scannable else FREE_TEXT,
                        compact=True,
                    )
            yield Static(id="error", classes="error")
            yield Static(self.hint, classes="hint")

    def on_mount(self) -> None:
        empty = [f for f in self.fields if not f.value]
        first = empty[0] if empty else self.fields[0]
        self.query_one(f"#field-{first.name}", Input).focus()

    def values(self) -> Values:
        return {
            f.name: self.query_one(f"#field-{f.name}", Input).value.strip() for f in self.fields
        }

    def holds_typing(self) -> bool:
        """A field typed into (not as the form opened with it), or the form being confirmed."""
        return self.busy or any(
            self.query_one(f"#field-{f.name}", Input).value != f.value for f in self.fields
        )

    def step_under_way(self) -> bool:
        return self.busy or self.looking_up > 0

    def show_error(self, message: str) -> None:
        self.query_one("#error", Static).update(Text(message, style="bold red"))

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        name = event.input.id.removeprefix("field-") if event.input.id else ""
        self._next_or_confirm(name, event.value)

    def _next_or_confirm(self, name: str, typed: str | None = None) -> None:
        """What Enter in field ``name`` does: on to the next field, or confirm in the last.
        ``typed``: the field's text at its Enter (keys typed right behind it may be in the
        field by now, and are not what was entered)."""
        names = [f.name for f in self.fields]
        index = names.index(name) if name in names else 0
        field = self.fields[index]
        if typed is None:
            typed = self.query_one(f"#field-{field.name}", Input).value
        value = typed.strip()
        if problem := self._field_problem(field, value):
            self.show_error(problem)
            return
        checks = [
            check for check in (self._card_check(field, value), field.lookup) if check is not None
        ]
        if checks and value and index + 1 < len(names):  # the last one's: as the form confirms
            self.looking_up += 1
            self.submit(FIELD_LOOKUP, lambda: (field.name, value, _first_problem(checks, value)))
            return
        self._on_from(index, {field.name: value})

    def _card_check(self, field: Field, value: str) -> Callable[[str], str | None] | None:
        """``field.card_check`` for ``value``, with the AIM identifier of the scan it came
        from; None when there is none to run, or the card was tapped on the reader."""
        check = field.card_check
        if check is None:
            return None
        scan = self._scans.get(field.name)
        if scan is None or scan.text.strip() != value:  # typed
            return lambda code: check(code, None)
        if scan.kind == "card":
            return None
        return lambda code: check(code, scan.symbology)

    def _on_from(self, index: int, typed: Values | None = None) -> None:
        """Past field ``index``: the next one, or confirm after the last (with ``typed``)."""
        self.show_error("")
        names = [f.name for f in self.fields]
        if index + 1 < len(names):
            self.query_one(f"#field-{names[index + 1]}", Input).focus()
        else:
            self.confirm(typed)

    def _field_problem(self, field: Field, value: str) -> str | None:
        if field.check is None:
            return None
        return field.check(value)

    def confirm(self, typed: Values | None = None) -> None:
        """Check and confirm the values shown, those in ``typed`` as they were at their
        Enter."""
        if self.busy:
            return
        values = {**self.values(), **(typed or {})}
        for field in self.fields:
            if problem := self._field_problem(field, values[field.name]):
                self.query_one(f"#field-{field.name}", Input).focus()
                self.show_error(problem)
                return
        problem = self._check(values) if self._check else None
        if problem:
            self.show_error(problem)
            return
        cards = [
            (check, values[f.name])
            for f in self.fields
            if values[f.name] and (check := self._card_check(f, values[f.name])) is not None
        ]
        if self._submit is None and not cards:
            self.dismiss(values)
            return
        job = self._submit(values) if self._submit is not None else (lambda: values)

        def checked() -> Any:
            # On the service thread, before the job: a product's barcode in a card field is
            # refused in the window, and nothing is done.
            for check, value in cards:
                if problem := check(value):
                    raise Refused(problem)
            return job()

        self.busy = True
        self.show_error("")
        self.query_one("#error", Static).update(Text("One moment…", style="dim"))
        self.submit(self.title_text, checked)

    def on_service_done(self, message: ServiceDone) -> None:
        message.stop()
        if message.what == FIELD_LOOKUP:
            self.looking_up -= 1
            name, value, problem = message.result
            box = self.query_one(f"#field-{name}", Input)
            if box.value.strip() != value:  # typed on meanwhile: its own Enter checks it
                return
            if problem:
                self.show_error(problem)
                return
            self._on_from([f.name for f in self.fields].index(name))
            return
        self.busy = False
        self.dismiss(message.result)

    def refused(self, message: ServiceRefused) -> None:
        if message.what == FIELD_LOOKUP:
            self.looking_up -= 1
        self.busy = False
        self.show_error(message.message)
        for field in self.fields:
            if field.password:
                self.query_one(f"#field-{field.name}", Input).value = ""
                self.query_one(f"#field-{field.name}", Input).focus()

    def take_scan(self, message: CodeScanned) -> bool:
        focused = self.focused
        for field in self.fields:
            box = self.query_one(f"#field-{field.name}", Input)
            if field.scannable and (focused is box or focused is None):
                self._scans[field.name] = message
                box.value = message.text
                box.cursor_position = len(box.value)
                # A scan ends like a typed code and its Enter (which the wedge detector took):
                # on to the next field, or, in the last one (F2's card), confirmed.
                self._next_or_confirm(field.name)
                return True
        scannable = [f for f in self.fields if f.scannable]
        if scannable and message.kind == "card":
            self._scans[scannable[0].name] = message
            box = self.query_one(f"#field-{scannable[0].name}", Input)
            box.value = message.text
            return True
        return False


def _first_problem(checks: Sequence[Callable[[str], str | None]], value: str) -> str | None:
    """The first of ``checks`` that finds something wrong with ``value`` says it."""
    for check in checks:
        if problem := check(value):
            return problem
    return None
