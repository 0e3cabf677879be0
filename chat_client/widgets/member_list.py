"""The members of the current room, each nick in its colour; picking one opens a DM.

Owners come first, marked `~`, then ops, marked `@`, then everyone else; a muted member is
dimmed, and a member who is away is dimmed and followed by `(away)`. The list is built from
Text, never from markup.
"""

from __future__ import annotations

from collections.abc import Container

from rich.text import Text
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from chat_client.render import nick_colour
from chat_client.roles import RoomRoles
from chat_client.text import inert
from protocol.names import name_key

MUTED_STYLE = "dim italic"
AWAY_STYLE = "dim"
AWAY_MARK = " (away)"


def member_entry(nick: str, me: str, roles: RoomRoles, away: bool = False) -> Text:
    """`~alice` / `@bob` / ` carol`: the role's mark and the nick, dimmed when muted; dimmed
    and marked `(away)` when away."""
    label = Text(no_wrap=True, overflow="ellipsis")
    label.append(roles.mark(nick), style="bold")
    name = Text(inert(nick), style=nick_colour(nick))
    if name_key(nick) == name_key(me):
        name.stylize("bold underline")
    if roles.is_muted(nick):
        name.stylize(MUTED_STYLE)
    if away:
        name.stylize(AWAY_STYLE)
    label.append_text(name)
    if away:
        label.append(AWAY_MARK, style=AWAY_STYLE)
    return label


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
        #: The name_keys of the nicks who are away (kept by the chat screen's presence).
        self.away: Container[str] = frozenset()

    def show(self, nicks: list[str], me: str, roles: RoomRoles | None = None) -> None:
        roles = roles or RoomRoles()
        self.nicks = sorted(nicks, key=lambda nick: (roles.rank(nick), name_key(nick)))
        self.set_options(
            Option(member_entry(nick, me, roles, name_key(nick) in self.away))
            for nick in self.nicks
        )
        self.border_subtitle = str(len(nicks)) if nicks else ""

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if 0 <= event.option_index < len(self.nicks):
            self.post_message(self.Picked(self.nicks[event.option_index]))
