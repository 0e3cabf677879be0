"""Rules (`──── label ────`) are one row at any width, drawn again to fit, label centred."""

from __future__ import annotations

from rich.cells import cell_len
from rich.console import Console

from chat_client.render import message_line, separator_line
from chat_client.wrapping import fit_rule, wrap

CONSOLE = Console(width=200)


def test_a_rule_wider_than_the_log_is_shortened_to_its_width() -> None:
    rule = separator_line("history: 6 earlier message(s)")
    assert cell_len(rule.plain) in (59, 60)
    for width in (35, 40, 52, 58):
        rows = wrap(CONSOLE, rule, width)
        assert len(rows) == 1, width
        row = rows[0].plain
        assert cell_len(row) <= width
        assert row.startswith("──") and row.endswith("──")
        assert " history: 6 earlier message(s) " in row
        left, right = row.split(" history", 1)[0], row.rsplit(") ", 1)[1]
        assert abs(len(left) - len(right)) <= 1  # centred


def test_a_rule_keeps_its_styles_and_one_whose_label_is_too_long_wraps_whole() -> None:
    rule = separator_line("live")
    assert wrap(CONSOLE, rule, 80) == [rule]
    marked = separator_line("live")
    marked.stylize("reverse", 20, 40)
    fitted = fit_rule(marked, 30)
    assert fitted is not None and any("reverse" in str(span.style) for span in fitted.spans)
    label = (
        "search 'deploy plan' in #lobby: 3 result(s), newest first (1 from ignored nicks left out)"
    )
    long_rule = separator_line(label)
    assert fit_rule(long_rule, 53) is None
    rows = wrap(CONSOLE, long_rule, 53)
    assert len(rows) > 1 and all(cell_len(r.plain) <= 53 for r in rows)
    assert "(1 from ignored nicks left out)" in " ".join(r.plain.strip() for r in rows)


def test_a_message_still_wraps_with_its_hanging_indent() -> None:
    line = message_line("2026-12-02T10:00:00.000Z", "bob", "word " * 20)
    rows = wrap(CONSOLE, line, 40)
    assert len(rows) > 1
    assert all(not row.plain.startswith("──") for row in rows)
    assert all(row.plain.startswith(" ") for row in rows[1:])
