"""Rules (`──── label ────`) are one row at any width, drawn again to fit, label centred."""

from __future__ import annotations

from rich.cells import cell_len
from rich.console import Console

from chat_client.render import message_line, separator_line
from chat_client.wrapping import fit_rule, wrap

CONSOLE = Console(width=200)


def test_a_rule_wider_than_the_log_is_drawn_again_at_its_width() -> None:
    rule = separator_line("history: 6 earlier message(s)")
    assert cell_len(rule.plain) in (59, 60)
    for width in (20, 32, 52, 58):
        rows = wrap(CONSOLE, rule, width)
        assert len(rows) == 1, width
        row = rows[0].plain
        assert cell_len(row) <= width
        assert row.startswith("──") and row.endswith("──")
        if width >= 40:
            assert " history: 6 earlier message(s) " in row
            left, right = row.split(" history", 1)[0], row.rsplit(") ", 1)[1]
            assert abs(len(left) - len(right)) <= 1  # centred


def test_a_rule_that_fits_is_kept_and_a_long_label_is_cut_with_an_ellipsis() -> None:
    rule = separator_line("live")
    assert wrap(CONSOLE, rule, 80) == [rule]
    short = fit_rule(separator_line("start of history of #a-room-with-a-long-name"), 24)
    assert cell_len(short.plain) <= 24 and "…" in short.plain and short.plain.startswith("──")


def test_a_message_still_wraps_with_its_hanging_indent() -> None:
    line = message_line("2026-12-02T10:00:00.000Z", "bob", "word " * 20)
    rows = wrap(CONSOLE, line, 40)
    assert len(rows) > 1
    assert all(not row.plain.startswith("──") for row in rows)
    assert all(row.plain.startswith(" ") for row in rows[1:])
