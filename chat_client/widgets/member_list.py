"""The members of the current room, each nick in its colour; picking one opens a DM."""

from __future__ import annotations

from rich.text import Text
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from chat_client.render import nick_colour
from chat_client.text import inert
from protocol.names import name_key


class MemberList(OptionList):
    """Nicks of the current room; selecting one posts `MemberList.Picked`."""

    class Picked(Message):
        """The user picked a member."""

        def __init__(self, nick: str) -> None:
            super().__init__()
            self.nick = nick

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, markup=False)
        self.border_title = "Members"
        self.nicks: list[str] = []

    def show(self, nicks: list[str], me: str) -> None:
        self.nicks = sorted(nicks, key=name_key)
        options = []
        for nick in self.nicks:
            label = Text(inert(nick), style=nick_colour(nick), no_wrap=True, overflow="ellipsis")
            if name_key(nick) == name_key(me):
                label.stylize("bold underline")
            options.append(Option(label))
        self.set_options(options)
        self.border_subtitle = str(len(nicks)) if nicks else ""

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if 0 <= event.option_index < len(self.nicks):
            self.post_message(self.Picked(self.nicks[event.option_index]))
