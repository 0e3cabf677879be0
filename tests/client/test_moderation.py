"""The moderation commands' requests, the roles model and the wording of moderation frames.

No server and no UI: chat_client/moderation.py, roles.py, modtext.py and the completion of
moderation arguments, tested where they live.
"""

from __future__ import annotations

import pytest

from chat_client import modtext
from chat_client.commands import COMMANDS, is_secret
from chat_client.completion import complete
from chat_client.moderation import (
    ban_mask,
    explain_error,
    is_empty_mode,
    parse_duration,
    request,
)
from chat_client.roles import RoleChange, RoomRoles
from protocol import (
    Ban,
    BanEntry,
    BanList,
    Bans,
    Deop,
    Error,
    GetModLog,
    Invite,
    Invited,
    Kick,
    Kicked,
    Kill,
    Members,
    Mode,
    ModeChanged,
    Modes,
    ModLog,
    ModLogEntry,
    Mute,
    Op,
    RoleChanged,
    ServerBan,
    ServerBans,
    ServerUnban,
    Unban,
    Unmute,
    Wall,
)
from tests.client.fakeserver import TS

HOSTILE = "[b]x[/b] [link=https://evil.example]y[/link] [@click=app.quit]z[/] \x1b[2J"


def modes(**on: bool | int) -> Modes:
    fields = dict.fromkeys(("key", "invite_only", "moderated", "topic_lock", "secret"), False)
    return Modes(room="lobby", **{**fields, "limit": 0, **on})  # type: ignore[arg-type]


# ------------------------------------------------------------------ requests


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("op bob", Op(room="lobby", nick="bob")),
        ("deop bob", Deop(room="lobby", nick="bob")),
        ("kick bob", Kick(room="lobby", nick="bob")),
        ("kick bob  spamming  links ", Kick(room="lobby", nick="bob", reason="spamming  links")),
        ("ban bob", Ban(room="lobby", mask="nick:bob")),
        (
            "ban nick:bob 2h flood",
            Ban(room="lobby", mask="nick:bob", duration=7200, reason="flood"),
        ),
        ("ban account:eve 7d", Ban(room="lobby", mask="account:eve", duration=7 * 86400)),
        ("ban ip:10.0.0.0/8 1h30m", Ban(room="lobby", mask="ip:10.0.0.0/8", duration=5400)),
        ("ban IP:2001:db8::/32", Ban(room="lobby", mask="ip:2001:db8::/32")),
        ("ban bob 3600", Ban(room="lobby", mask="nick:bob", duration=3600)),
        ("ban bob - 3 strikes", Ban(room="lobby", mask="nick:bob", reason="3 strikes")),
        ("ban bob being rude", Ban(room="lobby", mask="nick:bob", reason="being rude")),
        ("unban bob", Unban(room="lobby", mask="nick:bob")),
        ("unban ip:10.1.2.3", Unban(room="lobby", mask="ip:10.1.2.3")),
        ("bans", Bans(room="lobby")),
        ("mute bob", Mute(room="lobby", nick="bob")),
        ("mute bob 30m", Mute(room="lobby", nick="bob", duration=1800)),
        ("unmute bob", Unmute(room="lobby", nick="bob")),
        ("invite carol", Invite(room="lobby", nick="carol")),
        ("modlog", GetModLog(room="lobby")),
        ("modlog 5", GetModLog(room="lobby", limit=5)),
        ("key s3cret", Mode(room="lobby", key="s3cret")),
        ("key", Mode(room="lobby", key="")),
        ("key -", Mode(room="lobby", key="")),
        ("kill bob", Kill(nick="bob")),
        ("kill bob go away", Kill(nick="bob", reason="go away")),
        ("wall maintenance at 5", Wall(text="maintenance at 5")),
        (
            "serverban ip:192.0.2.7 1w spam",
            ServerBan(mask="ip:192.0.2.7", duration=604800, reason="spam"),
        ),
        ("serverunban eve", ServerUnban(mask="nick:eve")),
        ("serverbans", ServerBans()),
    ],
)
def test_each_command_builds_its_request(line: str, expected: object) -> None:
    name, _, arg = line.partition(" ")
    assert request(name, arg, "lobby") == expected


@pytest.mark.parametrize(
    ("arg", "fields"),
    [
        ("", {}),
        ("+i", {"invite_only": True}),
        ("-i", {"invite_only": False}),
        ("+imt-s", {"invite_only": True, "moderated": True, "topic_lock": True, "secret": False}),
        ("+l 20", {"limit": 20}),
        ("-l", {"limit": 0}),
        ("+k hunter2", {"key": "hunter2"}),
        ("-k", {"key": ""}),
        ("+lk 5 pw", {"limit": 5, "key": "pw"}),
        ("invite_only on moderated off", {"invite_only": True, "moderated": False}),
        ("topic on secret yes", {"topic_lock": True, "secret": True}),
        ("limit 20", {"limit": 20}),
        ("limit off", {"limit": 0}),
        ("+i limit 3 -m", {"invite_only": True, "limit": 3, "moderated": False}),
    ],
)
def test_mode_takes_flags_and_words(arg: str, fields: dict[str, object]) -> None:
    assert request("mode", arg, "lobby") == Mode(room="lobby", **fields)  # type: ignore[arg-type]
    assert is_empty_mode(request("mode", arg, "lobby")) == (not fields)


@pytest.mark.parametrize(
    ("name", "arg", "reason"),
    [
        ("op", "", "usage: /op NICK"),
        ("op", "bob carol", "usage: /op NICK"),
        ("kick", "", "usage: /kick NICK [REASON]"),
        ("ban", "", "usage: /ban MASK"),
        ("ban", "ip:999.1.1.1", "not an address or network"),
        ("ban", "nick:", "needs a name"),
        ("ban", "bob 99999w", "from 1 second to 10 years"),
        ("mute", "bob forever", "not a duration"),
        ("mute", "bob 0", "from 1 second to 10 years"),
        ("mode", "+x", "unknown mode letter x"),
        ("mode", "+l", "member cap"),
        ("mode", "+l many", "member cap"),
        ("mode", "+k", "+k needs the key"),
        ("mode", "moderated maybe", "takes on or off"),
        ("mode", "loud on", "unknown mode loud"),
        ("key", "two words", "one word"),
        ("modlog", "500", "1 to 200"),
        ("wall", "", "usage: /wall TEXT"),
        ("kick", "#lobby", "nick"),
    ],
)
def test_bad_arguments_say_why_in_one_line(name: str, arg: str, reason: str) -> None:
    with pytest.raises(ValueError) as caught:
        request(name, arg, "lobby")
    assert reason in str(caught.value) and "\n" not in str(caught.value)


def test_room_commands_need_a_room_server_commands_do_not() -> None:
    for name in ("op", "kick", "ban", "bans", "mode", "key", "invite", "modlog"):
        with pytest.raises(ValueError, match="switch to a room"):
            request(name, "bob", None)
    assert request("kill", "bob", None) == Kill(nick="bob")


def test_durations_and_masks() -> None:
    assert [parse_duration(d) for d in ("45", "30s", "10m", "2h", "7d", "1w", "1H30M")] == [
        45,
        30,
        600,
        7200,
        604800,
        604800,
        5400,
    ]
    assert ban_mask("Bob") == "nick:Bob"
    assert ban_mask("Account:eve") == "account:eve"
    assert ban_mask("ip:::1") == "ip:::1"
    assert ban_mask("some:thing") == "nick:some:thing"  # not a mask kind: a nick


def test_keys_are_kept_out_of_sight() -> None:
    assert is_secret("/key hunter2") and is_secret("/join lobby hunter2")
    assert is_secret("/mode +k hunter2") and is_secret("/mode +ik hunter2")
    assert not is_secret("/join lobby") and not is_secret("/mode +i") and not is_secret("/op x")
    names = {spec.name for spec in COMMANDS}
    assert {"op", "deop", "kick", "ban", "unban", "bans", "mute", "unmute", "mode"} <= names
    assert {"key", "invite", "modlog", "kill", "wall", "serverban"} <= names


def test_moderation_errors_are_explained() -> None:
    for code, words in [
        ("not_op", "ops and owners"),
        ("not_admin", "server admin"),
        ("bad_key", "/join ROOM KEY"),
        ("invite_only", "/invite"),
        ("room_full", "full"),
        ("muted", "muted"),
        ("topic_locked", "topic"),
        ("invalid_mask", "nick:NAME"),
        ("killed", "disconnected you"),
    ]:
        text = explain_error(Error(code=code, message="why"))
        assert text is not None and text.startswith(f"{code}: ") and words in text, text
        assert text.endswith("(server: why)")
    assert "banned from that room" in str(explain_error(Error(code="banned", message="")))
    fatal = explain_error(Error(code="banned", message="", fatal=True))
    assert "the server bans you" in str(fatal)
    assert explain_error(Error(code="nick_taken", message="")) is None


# ------------------------------------------------------------------ the roles model


def test_roles_from_members_then_changes() -> None:
    roles = RoomRoles()
    roles.reset(
        Members(
            room="lobby",
            nicks=["Alice", "bob", "carol"],
            roles={"Alice": "owner", "bob": "op"},
            muted=["carol"],
        )
    )
    assert [roles.mark(n) for n in ("alice", "BOB", "carol")] == ["~", "@", " "]
    assert roles.is_muted("Carol") and not roles.is_muted("bob")
    assert roles.change("carol", "op", False) == RoleChange("member", "op", False)
    assert roles.change("carol", "op", False) == RoleChange("op")  # nothing new
    assert roles.change("bob", "member", True) == RoleChange("op", "member", True)
    roles.rename("bob", "robert")
    assert roles.is_muted("robert") and not roles.is_muted("bob")
    roles.forget("robert")
    assert not roles.is_muted("robert")
    roles.clear()
    assert roles.role("alice") == "member"


def test_modes_are_merged_from_changes() -> None:
    roles = RoomRoles()
    roles.change_modes(ModeChanged(room="lobby", by="alice", ts=TS, invite_only=True, limit=5))
    assert roles.modes is not None and roles.modes.invite_only and roles.modes.limit == 5
    roles.change_modes(ModeChanged(room="lobby", by="alice", ts=TS, key=True, limit=0))
    assert modtext.mode_flags(roles.modes) == "+ik"
    assert roles.set_modes(modes(key=True, invite_only=True)) is False  # as known
    assert roles.set_modes(modes(secret=True, limit=9)) is True
    assert modtext.mode_flags(roles.modes) == "+s limit 9"
    roles.joined()  # a rejoin: unknown until the server says them again, then not repeated
    assert roles.modes is None and roles.set_modes(modes(secret=True, limit=9)) is False
    roles.clear()  # kicked: said again on the next join
    assert roles.set_modes(modes(secret=True, limit=9)) is True
    assert modtext.mode_flags(None) == "" and modtext.mode_flags(modes()) == ""


# ------------------------------------------------------------------ wording


def plain_lines(lines: list[modtext.Line]) -> list[str]:
    return [modtext.plain(line) for line in lines]


def test_events_read_as_sentences() -> None:
    kick = Kicked(room="lobby", nick="bob", by="alice", reason="spam", ts=TS)
    assert modtext.plain(modtext.kicked(kick, "alice")) == "bob was kicked by alice (spam)"
    mine = modtext.plain(modtext.kicked(kick, "BOB"))
    assert mine.startswith("you were kicked from #lobby by alice (spam)") and "/join" in mine
    op = RoleChanged(room="lobby", nick="bob", role="op", muted=False, by="alice", ts=TS)
    assert plain_lines(modtext.role_changed(op, RoleChange("member", "op"), "me")) == [
        "alice made bob an op"
    ]
    deop = op.model_copy(update={"role": "member", "muted": True})
    assert plain_lines(modtext.role_changed(deop, RoleChange("op", "member", True), "bob")) == [
        "alice took op from you",
        "alice muted you",
    ]
    gave_up = deop.model_copy(update={"by": "bob", "muted": False})
    assert plain_lines(modtext.role_changed(gave_up, RoleChange("op", "member"), "x")) == [
        "bob is no longer an op"
    ]
    expired = op.model_copy(update={"by": "server"})
    assert plain_lines(modtext.role_changed(expired, RoleChange("op", None, False), "x")) == [
        "bob may speak again"
    ]
    at_join = op.model_copy(update={"by": "server", "role": "owner", "nick": "me"})
    assert plain_lines(modtext.role_changed(at_join, RoleChange("member", "owner"), "me")) == [
        "you are an owner of this room"
    ]
    assert modtext.role_changed(op, RoleChange("op"), "x") == []  # nothing changed: no line
    changed = ModeChanged(room="lobby", by="alice", ts=TS, invite_only=True, limit=0, key=False)
    assert modtext.plain(modtext.mode_changed(changed)) == (
        "alice set the modes: invite_only on, limit off, key removed"
    )
    assert modtext.plain(modtext.modes(modes(topic_lock=True, limit=3, key=True))) == (
        "modes of #lobby: topic_lock, limit 3, key"
    )
    assert modtext.plain(modtext.modes(modes())) == "modes of #lobby: none set"
    invite = Invited(room="dev", by="alice")
    assert modtext.plain(modtext.invited(invite)).startswith("alice invited you to #dev")
    copy = Invited(room="dev", by="alice", nick="carol")
    assert modtext.plain(modtext.invited(copy)) == "you invited carol to #dev"
    members = Members(room="lobby", nicks=["a", "b", "c"], roles={"a": "owner"}, muted=["c"])
    assert modtext.plain(modtext.who(members)) == "3 in lobby: ~a, b, c (muted)"


def test_lists_have_a_heading_and_a_line_each() -> None:
    bans = BanList(
        room="lobby",
        bans=[
            BanEntry(mask="nick:bob", by="alice", ts=TS),
            BanEntry(mask="ip:10.0.0.0/8", by="alice", reason="spam", ts=TS, expires=TS),
        ],
    )
    lines = plain_lines(modtext.ban_list(bans))
    assert lines[0] == "bans of #lobby: 2"
    assert lines[1].startswith("  nick:bob by alice, since 2026-01-01 ")
    assert lines[1].endswith(", until lifted")
    assert ", until 2026-01-01 " in lines[2] and lines[2].endswith(" (spam)")
    assert plain_lines(modtext.ban_list(BanList(bans=[]))) == ["server bans: none"]
    log = ModLog(
        room="lobby",
        entries=[ModLogEntry(ts=TS, by="alice", action="kick", target="bob", reason="spam")],
    )
    lines = plain_lines(modtext.mod_log(log))
    assert lines[0] == "moderation log of #lobby: 1 action(s), newest first"
    assert lines[1].startswith("  2026-01-01 ") and lines[1].endswith(" alice kick bob (spam)")
    assert plain_lines(modtext.mod_log(ModLog(room="x", entries=[]))) == [
        "moderation log of #x: empty"
    ]


def test_what_others_control_is_never_ours() -> None:
    """Every nick, reason, mask and room is a (text, kind) part, never our own wording."""
    events: list[modtext.ModerationFrame] = [
        Kicked(room=HOSTILE, nick=HOSTILE, by=HOSTILE, reason=HOSTILE, ts=TS),
        RoleChanged(room=HOSTILE, nick=HOSTILE, role="op", muted=True, by=HOSTILE, ts=TS),
        ModeChanged(room=HOSTILE, by=HOSTILE, ts=TS, secret=True),
        BanList(
            room=HOSTILE,
            bans=[BanEntry(mask=HOSTILE, by=HOSTILE, reason=HOSTILE, ts=HOSTILE, expires=HOSTILE)],
        ),
        Invited(room=HOSTILE, by=HOSTILE, nick=HOSTILE),
        ModLog(
            room=HOSTILE,
            entries=[
                ModLogEntry(ts=HOSTILE, by=HOSTILE, action=HOSTILE, target=HOSTILE, reason=HOSTILE)
            ],
        ),
    ]
    for event in events:
        text = modtext.describe(event, "me")
        assert "\x1b" not in text and "[b]x[/b]" in text, text
    lines = [
        *modtext.ban_list(events[3]),  # type: ignore[arg-type]
        *modtext.mod_log(events[5]),  # type: ignore[arg-type]
        modtext.kicked(events[0], "me"),  # type: ignore[arg-type]
    ]
    for line in lines:
        assert all("[b]" not in part for part in line if isinstance(part, str)), line


# ------------------------------------------------------------------ completion


def test_completion_of_moderation_arguments() -> None:
    def candidates(line: str, arguments: dict[str, list[str]] | None = None) -> list[str]:
        found = complete(
            line,
            len(line),
            commands=["op", "mode", "modlog", "unban"],
            nicks=["bob", "bobby", "carol"],
            rooms=["lobby"],
            arguments=arguments or {},
        )
        return found.candidates if found is not None else []

    assert candidates("/mo") == ["/mode", "/modlog"]
    assert candidates("/kick bo") == ["bob", "bobby"]
    assert candidates("/ban nick:ca") == ["nick:carol"]
    assert candidates("/ban account:b") == ["account:bob", "account:bobby"]
    masks = {"/unban": ["nick:bob", "ip:10.0.0.0/8"], "/mode": ["invite_only", "moderated"]}
    assert candidates("/unban ip", masks) == ["ip:10.0.0.0/8"]
    assert candidates("/mode mo", masks) == ["moderated"]
    assert candidates("/mode +i mo", masks) == ["moderated"]
