"""Command palette entries for the chat commands and for switching conversations."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from rich.text import Text
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.fuzzy import Matcher

from chat_client.commands import COMMANDS
from chat_client.text import inert

if TYPE_CHECKING:
    from chat_client.screens.chat import ChatScreen


class ChatCommands(Provider):
    """`/join`, `/who`, ... and `Switch to #room`, run from the palette."""

    def _chat_screen(self) -> ChatScreen | None:
        from chat_client.screens.chat import ChatScreen

        return self.screen if isinstance(self.screen, ChatScreen) else None

    def _entries(self) -> list[tuple[str, Text, str, object]]:
        screen = self._chat_screen()
        if screen is None:
            return []
        entries: list[tuple[str, Text, str, object]] = []
        for spec in COMMANDS:
            action = (
                partial(screen.prefill, f"/{spec.name} ")
                if spec.takes_argument
                else partial(screen.run_line, f"/{spec.name}")
            )
            entries.append((spec.usage, Text(spec.usage), spec.help, action))
        for conv in screen.conversations.items.values():
            # The palette copies `text` into its input when a hit is picked: keep it inert too.
            label = inert(f"Switch to {conv.label}")
            entries.append(
                (
                    label,
                    Text(label),
                    "show this conversation",
                    partial(screen.switch_to, conv.key),
                )
            )
        return entries

    async def discover(self) -> Hits:
        for text, display, help_text, action in self._entries():
            yield DiscoveryHit(display, action, text=text, help=help_text)  # type: ignore[arg-type]

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, _display, help_text, action in self._entries():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, _highlight(matcher, text), action, text=text, help=help_text)  # type: ignore[arg-type]


def _highlight(matcher: Matcher, candidate: str) -> Text:
    """Like `Matcher.highlight`, but without parsing `candidate` (already inert) as markup."""
    text = Text(candidate)
    _score, offsets = matcher.fuzzy_search.match(matcher.query, candidate)
    for offset in offsets:
        text.stylize("bold underline", offset, offset + 1)
    return text
