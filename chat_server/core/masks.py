"""Ban masks: `nick:NAME`, `account:NAME`, `ip:ADDRESS` or `ip:CIDR`, parsed once and matched
against connections.

A nick mask matches every nick with the same identity (either skeleton, see protocol.names),
so a look-alike cannot slip past a ban; an account mask matches a connection logged in to
that account whatever nick it uses; an ip mask matches the connection's own address (an IPv4
address inside an IPv4-mapped IPv6 one counts as IPv4).
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, NamedTuple

from chat_server.core.guards import parse_address
from protocol import ErrorCode, ProtocolError
from protocol.names import name_key, name_keys, normalize_nick

if TYPE_CHECKING:
    from chat_server.core.connection import Connection

KINDS = ("nick", "account", "ip")


class Mask(NamedTuple):
    kind: str  # "nick", "account" or "ip"
    text: str  # canonical, as listed: "nick:Alice", "account:alice", "ip:10.0.0.0/8"
    key: str  # nick/account: the name's identity key; ip: the network, as text
    visual: str  # nick: the visual key; otherwise ""

    def matches(self, conn: Connection) -> bool:
        if self.kind == "account":
            return conn.account_key == self.key
        if self.kind == "nick":
            if conn.nick is None:
                return False
            key, visual = name_keys(conn.nick)
            return key == self.key or visual == self.visual
        return ip_matches(self.key, conn.ip)

    def matches_nick(self, nick: str) -> bool:
        """For `hello`, before the connection has a nick."""
        if self.kind != "nick":
            return False
        key, visual = name_keys(nick)
        return key == self.key or visual == self.visual


def ip_matches(network: str, address: str | None) -> bool:
    ip = parse_address(address)
    return ip is not None and ip in ipaddress.ip_network(network)


def parse_mask(text: str) -> Mask:
    """The mask `text` names, or `invalid_mask` saying what is wrong with it."""
    kind, sep, value = text.strip().partition(":")
    kind = kind.lower()
    if not sep or kind not in KINDS or not value.strip():
        raise ProtocolError(
            ErrorCode.INVALID_MASK,
            f"{text!r} is not a mask: use nick:NAME, account:NAME, ip:ADDRESS or ip:CIDR",
        )
    value = value.strip()
    if kind == "ip":
        try:
            network = ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ProtocolError(
                ErrorCode.INVALID_MASK, f"{value!r} is not an IP address or network"
            ) from None
        if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96:
            mapped = network.network_address.ipv4_mapped
            if mapped is not None:  # ::ffff:a.b.c.d/n is an IPv4 network
                network = ipaddress.ip_network(f"{mapped}/{network.prefixlen - 96}")
        whole = network.prefixlen == network.max_prefixlen  # one address: shown without /n
        shown = str(network.network_address) if whole else str(network)
        return Mask("ip", f"ip:{shown}", str(network), "")
    try:
        name = normalize_nick(value)
    except ValueError as exc:
        raise ProtocolError(ErrorCode.INVALID_MASK, f"{kind}:{value}: {exc}") from None
    if kind == "account":
        return Mask("account", f"account:{name}", name_key(name), "")
    key, visual = name_keys(name)
    return Mask("nick", f"nick:{name}", key, visual)


def person_mask(conn: Connection) -> Mask:
    """The mask that names `conn` as a person: its account when logged in, else its nick."""
    assert conn.nick is not None
    if conn.account is not None and conn.account_key is not None:
        return Mask("account", f"account:{conn.account}", conn.account_key, "")
    key, visual = name_keys(conn.nick)
    return Mask("nick", f"nick:{conn.nick}", key, visual)
