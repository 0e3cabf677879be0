"""The list of conversations (rooms and direct messages), numbered, with unread counts and
mention marks."""

from __future__ import annotations

from rich.text import Text
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from chat_client.conversations import Conversation, Conversations, Kind
from chat_client.text import inert, steady


def _shown(text: str) -> str:
    """Someone else's text for a one-line bar: inert, and emoji of ambiguous width made steady
    (text.steady), so the bar's columns are where the terminal draws them."""
    return steady(inert(text))


def room_entry(conv: Conversation, number: int | None = None, width: int = 1) -> Text:
    """`#lobby  3` / `@bob !1` / `#dev (left)`: a label for one conversation, built without
    markup; a room we are no longer in (kicked) is dimmed. `number`: its place in the list
    (alt+1.. alt+0 jump to the first ten), right-aligned to `width`."""
    line = Text(no_wrap=True, overflow="ellipsis")
    if number is not None:
        line.append(f"{number:>{width}} ", style="dim")
    if conv.kind is Kind.SERVER:
        line.append(_shown(conv.name), style="italic")
    else:
        left = conv.kind is Kind.ROOM and not conv.joined
        line.append("#" if conv.kind is Kind.ROOM else "@", style="dim")
        line.append(_shown(conv.name), style="dim" if left else "bold" if conv.unread else "")
        if left:
            line.append(" (left)", style="dim italic")
    if conv.mention:
        line.append(f" !{conv.unread}", style="bold reverse #e06c75")
    elif conv.unread:
        line.append(f" {conv.unread}", style="bold #61afef")
    return line


class RoomList(OptionList):
    """Rooms and DMs; selecting one posts `RoomList.Picked`."""

    class Picked(Message):
        """The user picked a conversation."""

        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, markup=False)
        self.border_title = "Rooms"
        self._keys: list[str] = []

    def show(self, conversations: Conversations) -> None:
        """Redraw from the model, highlighting the active conversation."""
        convs = list(conversations.items.values())
        self._keys = [c.key for c in convs]
        width = len(str(len(convs)))
        self.set_options(
            Option(room_entry(c, n, width), id=c.widget_id) for n, c in enumerate(convs, 1)
        )
        if conversations.active in self._keys:
            self.highlighted = self._keys.index(conversations.active)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if 0 <= event.option_index < len(self._keys):
            self.post_message(self.Picked(self._keys[event.option_index]))
