"""Which addresses the bot may fetch from: public ones only, whatever form they are written in.

An IPv6 address can carry an IPv4 one that the network translates or tunnels to (IPv4-mapped,
6to4, Teredo, NAT64, IPv4-compatible, IPv4-translated, ISATAP): such an address is refused
when the IPv4 address inside is not public, so 2002:0a00:0001:: cannot reach 10.0.0.1.
"""
from __future__ import annotations

import ipaddress

NOT_PUBLIC = "not a public address"


def refusal(ip_text: str) -> str | None:
    """Why an address may not be fetched from ("loopback", "private", ...), or None when it is
    a public one. An IPv6 form that carries an IPv4 address (mapped, 6to4, Teredo, NAT64, ...)
    is judged by the IPv4 address it leads to as well."""
    ip = ipaddress.ip_address(ip_text.split("%", 1)[0])
    for inner in _embedded_ipv4(ip):
        why = _own_refusal(inner)
        if why:
            return why
    if any(ip in net for kind, net in _V4_IN_LOW_BITS if kind == "NAT64"):
        return None  # DNS64 on an IPv6-only network: the IPv4 address inside is public
    return _own_refusal(ip)


def refusal_phrase(ip_text: str) -> str | None:
    """`refusal` as words for a message: "a loopback address", "an unspecified address",
    "a 6to4 address for 10.0.0.1, a private address"; None when the address is public."""
    why = refusal(ip_text)
    if why is None:
        return None
    ip = ipaddress.ip_address(ip_text.split("%", 1)[0])
    inner = [(kind, v4) for kind, v4 in _embedded_ipv4_named(ip) if _own_refusal(v4)]
    noun = "a non-public address" if why == NOT_PUBLIC else f"{_article(why)} {why} address"
    if inner:
        kind, v4 = inner[0]
        return f"{_article(kind)} {kind} address for {v4}, {noun}"
    return noun



def _own_refusal(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    for attr, why in (
        ("is_loopback", "loopback"),
        ("is_link_local", "link-local"),
        ("is_multicast", "multicast"),
        ("is_unspecified", "unspecified"),
        ("is_reserved", "reserved"),
        ("is_private", "private"),
    ):
        if getattr(ip, attr):
            return why
    if not ip.is_global:
        return NOT_PUBLIC
    return None


# IPv6 prefixes whose last 32 bits are an IPv4 address the traffic is translated or tunnelled
# to: NAT64 (RFC 6052 well-known and RFC 8215 local-use), IPv4-compatible (deprecated),
# IPv4-translated (SIIT).
_V4_IN_LOW_BITS = (
    ("NAT64", ipaddress.ip_network("64:ff9b::/96")),
    ("NAT64", ipaddress.ip_network("64:ff9b:1::/48")),
    ("IPv4-compatible", ipaddress.ip_network("::/96")),
    ("IPv4-translated", ipaddress.ip_network("::ffff:0:0:0/96")),
)


def _embedded_ipv4_named(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> list[tuple[str, ipaddress.IPv4Address]]:
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    out: list[tuple[str, ipaddress.IPv4Address]] = []
    if ip.ipv4_mapped is not None:
        out.append(("IPv4-mapped", ip.ipv4_mapped))
    if ip.sixtofour is not None:
        out.append(("6to4", ip.sixtofour))
    if ip.teredo is not None:
        server, client = ip.teredo
        out += [("Teredo", client), ("Teredo", server)]
    low = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    for kind, net in _V4_IN_LOW_BITS:
        if ip in net and not (kind == "IPv4-compatible" and int(ip) <= 1):  # :: and ::1 are themselves
            out.append((kind, low))
    if (int(ip) >> 32) & 0xFDFFFFFF == 0x00005EFE:  # ISATAP interface id ...:0:5efe:a.b.c.d (or 200:5efe)
        out.append(("ISATAP", low))
    return out


def _embedded_ipv4(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    return [v4 for _, v4 in _embedded_ipv4_named(ip)]


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"
