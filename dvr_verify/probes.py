"""What the packet probes saw: frozen result types, and parsers of the manual tools' text.

The probe modules emit the JSON form (`ProbeResults.as_dict`); the checks consume the objects. The
`parse_*` functions read what the runbook's manual commands print (`arping`, `tcpdump -e -n`,
`traceroute -n`, `ping`), so a user's paste or a VM console log gives the same objects.
MAC addresses are lower-case strings; addresses are `ipaddress.IPv4Address`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from functools import cache
from ipaddress import IPv4Address
from typing import Any, Literal, NamedTuple, Self, get_args, get_origin, get_type_hints

ReachKind = Literal["icmp", "tcp", "icmp_df"]
REACH_KINDS: tuple[str, ...] = ("icmp", "tcp", "icmp_df")

_MAC = r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}"
_IPV4 = r"\d{1,3}(?:\.\d{1,3}){3}"
_MAC_RE = re.compile(rf"^{_MAC}$")


def _mac(value: str, *, allow_empty: bool = False) -> str:
    """`value` lower-cased; ValueError unless it is a colon-separated MAC ("" if allowed)."""
    if allow_empty and value == "":
        return value
    if not isinstance(value, str) or not _MAC_RE.match(value):
        raise ValueError(f"not a MAC address: {value!r}")
    return value.lower()


def _ip(value: Any) -> IPv4Address:
    return IPv4Address(value)


def _opt_ip(value: Any) -> IPv4Address | None:
    return None if value is None else IPv4Address(value)


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


Convert = Callable[[Any], Any]


def _same(value: Any) -> Any:
    return value


def _optional(convert: Convert) -> Convert:
    return lambda value: None if value is None else convert(value)


def _codec(hint: Any) -> tuple[Convert, Convert]:
    """(to JSON, from JSON) for a field annotated `hint`.

    An address is its string, an int is read with int(), `X | None` keeps None, a tuple of records
    is the list of their dicts; anything else (str, a Literal) is taken as it is.
    """
    if hint is IPv4Address:
        return str, _ip
    if hint is int:
        return _same, int
    args = get_args(hint)
    if get_origin(hint) is tuple:
        kind = args[0]
        return (
            lambda items: [item.as_dict() for item in items],
            lambda items: tuple(kind.from_dict(item) for item in items),
        )
    if len(args) == 2 and type(None) in args:
        write, read = _codec(next(arg for arg in args if arg is not type(None)))
        return _optional(write), _optional(read)
    return _same, _same


@cache
def _codecs(cls: type) -> tuple[tuple[str, Convert, Convert], ...]:
    hints = get_type_hints(cls)
    return tuple((f.name, *_codec(hints[f.name])) for f in fields(cls))


class _Record:
    """A probe result whose JSON form has its fields in order, each converted by its type."""

    def as_dict(self) -> dict[str, Any]:
        return {name: write(getattr(self, name)) for name, write, _ in _codecs(type(self))}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """The inverse of `as_dict`; KeyError for a missing field, ValueError for a bad value."""
        return cls(**{name: read(data[name]) for name, _, read in _codecs(cls)})


@dataclass(frozen=True)
class ArpReply(_Record):
    """One ARP reply to a request for `target`: `mac` claims `sender_ip` (= target: proxy ARP)."""

    target: IPv4Address
    mac: str
    sender_ip: IPv4Address

    def __post_init__(self) -> None:
        _set(self, "mac", _mac(self.mac))


@dataclass(frozen=True)
class ArpProbe(_Record):
    """`sent` ARP requests for `target` from `sender_ip` on `interface`, and every reply heard.

    Two different MACs in `macs` means two hosts answer for one address (a FIP plumbed twice).
    `sent` is 0 and `interface` "" / `sender_ip` None when the source (manual output) did not say.
    """

    target: IPv4Address
    interface: str
    sender_ip: IPv4Address | None
    replies: tuple[ArpReply, ...]
    sent: int

    def __post_init__(self) -> None:
        _set(self, "replies", tuple(self.replies))

    @property
    def macs(self) -> frozenset[str]:
        """The distinct MACs that answered."""
        return frozenset(reply.mac for reply in self.replies)


@dataclass(frozen=True)
class CapturedFrame(_Record):
    """One IPv4 frame seen on the wire. `protocol` is lower-case: "icmp", "tcp", "udp", ...

    `dst_mac` is "" when the capture does not show it (`tcpdump -i any`: Linux cooked header).
    """

    src_mac: str
    dst_mac: str
    src_ip: IPv4Address
    dst_ip: IPv4Address
    protocol: str

    def __post_init__(self) -> None:
        _set(self, "src_mac", _mac(self.src_mac))
        _set(self, "dst_mac", _mac(self.dst_mac, allow_empty=True))


@dataclass(frozen=True)
class EgressCapture(_Record):
    """Frames seen upstream while VM `vm` (`fixed_ip`, floating IP `fip` or None) sent to the
    capture host.

    Expected (invariants D): with a FIP, source IP = FIP and source MAC = the fg- MAC of the VM's
    host; without, source IP = the router gateway IP and source MAC = the SNAT host's qg- MAC.
    """

    vm: str
    fixed_ip: IPv4Address
    fip: IPv4Address | None
    frames: tuple[CapturedFrame, ...]

    def __post_init__(self) -> None:
        _set(self, "frames", tuple(self.frames))

    def macs_from(self, address: IPv4Address) -> frozenset[str]:
        """Source MACs of the frames whose source IP is `address`."""
        return frozenset(frame.src_mac for frame in self.frames if frame.src_ip == address)


@dataclass(frozen=True)
class Reachability(_Record):
    """`sent` probes of `kind` to `target` (`port` for tcp), `received` answers, `ttl` of the first.

    "icmp_df" is an echo request with Don't Fragment set, sized to the MTU (proves it end to end).
    """

    target: IPv4Address
    kind: ReachKind
    port: int | None
    sent: int
    received: int
    ttl: int | None

    def __post_init__(self) -> None:
        if self.kind not in REACH_KINDS:
            raise ValueError(f"reachability kind {self.kind!r} is not one of {REACH_KINDS}")
        if self.kind == "tcp" and self.port is None:
            raise ValueError(f"tcp reachability to {self.target} needs a port")

    @property
    def answered(self) -> bool:
        return self.received > 0


@dataclass(frozen=True)
class TraceHop(_Record):
    """Hop `ttl` of a traceroute; `address` is the first address that answered, None for `*`."""

    ttl: int
    address: IPv4Address | None


@dataclass(frozen=True)
class Traceroute(_Record):
    """A traceroute from VM `vm` (`source_ip`) to `destination`."""

    vm: str
    source_ip: IPv4Address
    destination: IPv4Address
    hops: tuple[TraceHop, ...]

    def __post_init__(self) -> None:
        _set(self, "hops", tuple(self.hops))

    @property
    def addresses(self) -> tuple[IPv4Address | None, ...]:
        """The responding hop addresses in order, None for a `*` hop."""
        return tuple(hop.address for hop in self.hops)


_SECTIONS: tuple[tuple[str, Any], ...] = (
    ("arp", ArpProbe),
    ("egress", EgressCapture),
    ("reachability", Reachability),
    ("traceroutes", Traceroute),
)


@dataclass(frozen=True)
class ProbeResults:
    """Everything one probe run produced. `as_dict()` is JSON-ready; `from_dict` reverses it."""

    arp: tuple[ArpProbe, ...] = ()
    egress: tuple[EgressCapture, ...] = ()
    reachability: tuple[Reachability, ...] = ()
    traceroutes: tuple[Traceroute, ...] = ()

    def __post_init__(self) -> None:
        for name, _ in _SECTIONS:
            _set(self, name, tuple(getattr(self, name)))

    def as_dict(self) -> dict[str, list[dict[str, Any]]]:
        return {name: [item.as_dict() for item in getattr(self, name)] for name, _ in _SECTIONS}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProbeResults:
        """Build from the JSON form. Every section key must be present (`[]` for none).

        Raises ValueError naming the section and index of the first bad item.
        """
        sections: dict[str, tuple[Any, ...]] = {}
        for name, kind in _SECTIONS:
            if name not in data:
                raise ValueError(f"probe results: missing key {name!r}")
            sections[name] = tuple(_load(name, data[name], kind))
        return cls(**sections)


def _load(section: str, items: Iterable[Any], kind: Any) -> Iterable[Any]:
    for index, item in enumerate(items):
        try:
            yield kind.from_dict(item)
        except KeyError as exc:
            raise ValueError(f"probe results: {section}[{index}]: missing key {exc}") from exc
        except (TypeError, ValueError) as exc:
            raise ValueError(f"probe results: {section}[{index}]: {exc}") from exc


# --- parsers of the manual tools' output -------------------------------------------------------

# iputils and busybox: "ARPING 172.30.89.152 from 172.30.0.1 eth0"; older busybox: "ARPING to X
# from Y via eth0"; Habets' arping (the seed runbook's): "ARPING 172.30.89.140".
_ARPING_HEADER = re.compile(
    rf"^ARPING (?:to )?(?P<target>{_IPV4})(?: from (?P<src>{_IPV4})(?: (?:via )?(?P<iface>\S+))?)?"
)
# iputils/busybox: "Unicast reply from 172.30.89.152 [FA:16:3E:72:34:1B]  6.215ms"
_ARPING_REPLY = re.compile(
    rf"^(?:Unicast|Broadcast) reply from (?P<ip>{_IPV4}) \[(?P<mac>{_MAC})\]"
)
# Habets: "42 bytes from fa:16:3e:6f:c7:c5 (172.30.89.140): index=0 time=771.461 msec"
_ARPING_HABETS_REPLY = re.compile(rf"^\d+ bytes from (?P<mac>{_MAC}) \((?P<ip>{_IPV4})\)")
# "Sent 2 probes (1 broadcast(s))", "Sent 2 probe(s) ...", Habets "1 packets transmitted, ..."
_ARPING_SENT = re.compile(r"^(?:Sent (?P<sent>\d+) probe|(?P<tx>\d+) packets transmitted)")


def parse_arping(text: str, target: IPv4Address | str) -> ArpProbe:
    """Parse `arping` output (iputils, busybox/CirrOS, or Habets' arping) for `target`.

    Replies are kept in order, duplicates included; `sent` comes from the summary line (0 if the
    text has none, e.g. an interrupted run). Raises ValueError when the text has no arping header,
    reply or summary line, or when its header names another target.
    """
    target = IPv4Address(target)
    interface = ""
    sender_ip: IPv4Address | None = None
    replies: list[ArpReply] = []
    sent = 0
    recognised = False
    for line in text.splitlines():
        line = line.strip()
        if header := _ARPING_HEADER.match(line):
            recognised = True
            if IPv4Address(header["target"]) != target:
                raise ValueError(f"arping output is for {header['target']}, not {target}")
            sender_ip = _opt_ip(header["src"])
            interface = header["iface"] or ""
        elif reply := _ARPING_REPLY.match(line) or _ARPING_HABETS_REPLY.match(line):
            recognised = True
            replies.append(ArpReply(target, reply["mac"], IPv4Address(reply["ip"])))
        elif summary := _ARPING_SENT.match(line):
            recognised = True
            sent = int(summary["sent"] or summary["tx"])
    if not recognised:
        raise ValueError(f"not arping output: {_excerpt(text)}")
    return ArpProbe(target, interface, sender_ip, tuple(replies), sent)


# "13:05:37.170261 fa:16:3e:72:34:1b > 02:91:65:a7:f0:6e, ethertype IPv4 (0x0800), length 98:
#  172.30.89.152 > 172.30.0.1: ICMP echo request, ...". `-i any` prints only the source MAC
# ("vb1   In  ifindex 2 ea:a9:e9:a6:74:b3 ethertype IPv4 ..."); 802.1Q frames print the outer
# ethertype, then "vlan N, p N, ethertype IPv4 (0x0800), <addresses>".
_TCPDUMP_FRAME = re.compile(
    rf"(?<![\w:])(?P<src_mac>{_MAC})(?: > (?P<dst_mac>{_MAC}),)? ethertype (?:.*?ethertype )?"
    rf"IPv4 \(0x0800\), (?:length \d+: )?"
    rf"(?P<src_ip>{_IPV4})(?P<sport>\.\d+)? > (?P<dst_ip>{_IPV4})(?P<dport>\.\d+)?: (?P<info>.*)$"
)


def _frame_protocol(info: str, has_ports: bool) -> str:
    if info.startswith("ICMP"):
        return "icmp"
    if info.startswith("Flags ["):
        return "tcp"
    if info.startswith("UDP") or has_ports:
        return "udp"
    word = info.split(None, 1)[0] if info.strip() else "unknown"
    return word.rstrip(",:").lower()


def parse_tcpdump_e(text: str) -> tuple[CapturedFrame, ...]:
    """The IPv4 frames in `tcpdump -e -n` output, in order.

    Other lines (tcpdump's status lines, ARP, IPv6, `-v` continuation lines, garbage) are skipped,
    so text without any IPv4 frame gives `()`. Ports are dropped; the protocol is "icmp", "tcp"
    (a `Flags [..]` payload), "udp" (any other payload with ports) or tcpdump's first word.
    """
    frames: list[CapturedFrame] = []
    for line in text.splitlines():
        match = _TCPDUMP_FRAME.search(line)
        if match is None:
            continue
        frames.append(
            CapturedFrame(
                src_mac=match["src_mac"],
                dst_mac=match["dst_mac"] or "",
                src_ip=IPv4Address(match["src_ip"]),
                dst_ip=IPv4Address(match["dst_ip"]),
                protocol=_frame_protocol(match["info"], bool(match["sport"] or match["dport"])),
            )
        )
    return tuple(frames)


_TRACEROUTE_HEADER = re.compile(rf"^traceroute to \S+ \((?P<dest>{_IPV4})\)")
# " 1  10.0.111.1  1.347 ms ...", " 2  * * *", " 1  10.0.111.1 (10.0.111.1)  1.645 ms",
# " 3  router.example (10.0.0.1)  1.0 ms"
_TRACEROUTE_HOP = re.compile(
    rf"^\s*(?P<ttl>\d+)\s+(?=\*|{_IPV4}(?:\s|$)|\S+\s+\({_IPV4}\))(?P<rest>.*)$"
)
_HOP_ADDRESS = re.compile(rf"(?<![\w.-])(?P<ip>{_IPV4})(?![\w.-])")


def parse_traceroute(text: str) -> tuple[TraceHop, ...]:
    """The hops of `traceroute` output (Linux traceroute, iputils, busybox/CirrOS), in order.

    With or without `-n`; a hop of only `*` has address None; a hop answered by several addresses
    keeps the first one. Lines that are not hops (header, warnings, BSD continuation lines) are
    skipped. Raises ValueError when the text has neither the `traceroute to` header nor a hop line
    (e.g. "traceroute: bad address"); the header alone gives `()`.
    """
    hops: list[TraceHop] = []
    seen_header = False
    for line in text.splitlines():
        if _TRACEROUTE_HEADER.match(line.strip()):
            seen_header = True
            continue
        hop = _TRACEROUTE_HOP.match(line)
        if hop is None:
            continue
        address = _HOP_ADDRESS.search(hop["rest"])
        hops.append(
            TraceHop(int(hop["ttl"]), None if address is None else IPv4Address(address["ip"]))
        )
    if not hops and not seen_header:
        raise ValueError(f"not traceroute output: {_excerpt(text)}")
    return tuple(hops)


class PingCounts(NamedTuple):
    """What `ping` reports: requests sent, replies received, TTL of the first reply (or None)."""

    sent: int
    received: int
    ttl: int | None


# iputils "2 packets transmitted, 2 received, ..."; busybox "..., 2 packets received"
_PING_SUMMARY = re.compile(
    r"(?P<sent>\d+) packets transmitted, (?P<received>\d+) (?:packets )?received"
)
_PING_TTL = re.compile(r"\bbytes from .*\bttl=(?P<ttl>\d+)")


def parse_ping(text: str) -> PingCounts:
    """Parse `ping` output (iputils or busybox/CirrOS).

    `received` excludes duplicates and errors (as ping counts them); `ttl` is that of the first echo
    reply line, None when nothing answered. Raises ValueError when there is no statistics line
    (not ping output, an unknown host, or a run killed before its summary).
    """
    summary = _PING_SUMMARY.search(text)
    if summary is None:
        raise ValueError(f"no ping statistics line: {_excerpt(text)}")
    received = int(summary["received"])
    ttl_match = _PING_TTL.search(text)
    ttl = int(ttl_match["ttl"]) if ttl_match and received else None
    return PingCounts(int(summary["sent"]), received, ttl)


def _excerpt(text: str, limit: int = 80) -> str:
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return repr(first if len(first) <= limit else f"{first[:limit]}...")
