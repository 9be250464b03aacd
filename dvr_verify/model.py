"""What a node looks like: collector JSON (schema 1) turned into frozen dataclasses, in one place.

Everything after `parse_node` works on these objects, never on the collector's dicts.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

NAMESPACE_KINDS = ("qrouter", "snat", "fip", "qdhcp")
DEFAULT_STATE_PATH = "/var/lib/neutron"  # the L3 agent's state_path unless configured


class CollectorSchemaError(ValueError):
    """The collector document is not schema 1."""


@dataclass(frozen=True)
class Link:
    name: str
    ifindex: int
    kind: str | None
    mac: str | None
    mtu: int
    operstate: str
    flags: tuple[str, ...]
    peer_ifindex: int | None = None
    peer_netnsid: int | None = None

    @property
    def up(self) -> bool:
        return "UP" in self.flags


@dataclass(frozen=True)
class Address:
    device: str
    interface: IPInterface
    scope: str

    @property
    def ip(self) -> IPAddress:
        return self.interface.ip


@dataclass(frozen=True)
class Route:
    family: int
    table: str
    dst: str
    gateway: IPAddress | None
    dev: str | None
    protocol: str | None
    type: str

    @property
    def is_default(self) -> bool:
        return self.dst == "default"

    def text(self) -> str:
        parts = [self.dst]
        if self.gateway is not None:
            parts.append(f"via {self.gateway}")
        if self.dev:
            parts.append(f"dev {self.dev}")
        if self.table != "main":
            parts.append(f"table {self.table}")
        return " ".join(parts)


@dataclass(frozen=True)
class Rule:
    family: int
    priority: int
    src: str
    table: str
    iif: str | None = None

    def text(self) -> str:
        iif = f" iif {self.iif}" if self.iif else ""
        return f"{self.priority}: from {self.src}{iif} lookup {self.table}"


@dataclass(frozen=True)
class Neighbour:
    dst: IPAddress
    dev: str
    lladdr: str | None
    states: tuple[str, ...]

    @property
    def permanent(self) -> bool:
        return "PERMANENT" in self.states


@dataclass(frozen=True)
class IptRule:
    table: str
    chain: str
    raw: str
    target: str | None
    options: Mapping[str, Any]
    negated: frozenset[str]

    def opt(self, name: str) -> str | None:
        value = self.options.get(name)
        if isinstance(value, list):
            return " ".join(str(v) for v in value)
        return value


@dataclass(frozen=True)
class Namespace:
    name: str
    status: str
    links: tuple[Link, ...] = ()
    addresses: tuple[Address, ...] = ()
    routes: tuple[Route, ...] = ()
    rules: tuple[Rule, ...] = ()
    neighbours: tuple[Neighbour, ...] = ()
    proxy_neighbours: tuple[Neighbour, ...] = ()
    sysctls: Mapping[str, str] = field(default_factory=dict)
    iptables_backend: str | None = None
    iptables_collected: bool = False
    iptables: tuple[IptRule, ...] = ()
    errors: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        prefix = self.name.split("-", 1)[0]
        return prefix if prefix in NAMESPACE_KINDS else "other"

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def link(self, name: str) -> Link | None:
        return next((lk for lk in self.links if lk.name == name), None)

    def links_with_prefix(self, prefix: str) -> tuple[Link, ...]:
        return tuple(lk for lk in self.links if lk.name.startswith(prefix))

    def addresses_of(self, device: str, family: int = 4) -> tuple[Address, ...]:
        return tuple(
            a
            for a in self.addresses
            if a.device == device and a.interface.version == family and a.scope != "link"
        )

    def routes_in(self, table: str, family: int = 4) -> tuple[Route, ...]:
        return tuple(r for r in self.routes if r.table == table and r.family == family)

    def rules_for(self, family: int = 4) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.family == family)

    def neighbour(self, dev: str, dst: IPAddress) -> Neighbour | None:
        return next((n for n in self.neighbours if n.dev == dev and n.dst == dst), None)

    def sysctl(self, key: str) -> str | None:
        return self.sysctls.get(key)

    def iptables_rules(self, table: str, chain: str | None = None) -> tuple[IptRule, ...]:
        return tuple(
            r for r in self.iptables if r.table == table and (chain is None or r.chain == chain)
        )


@dataclass(frozen=True)
class Flow:
    bridge: str
    table: int
    priority: int
    match: Mapping[str, str]
    actions: tuple[str, ...]

    def text(self) -> str:
        match = ",".join(f"{k}={v}" if v != "" else k for k, v in self.match.items())
        return (
            f"{self.bridge} table={self.table},priority={self.priority},{match} "
            f"actions={','.join(self.actions)}"
        )


@dataclass(frozen=True)
class OvsInterface:
    name: str
    type: str
    external_ids: Mapping[str, str]
    ofport: int | None
    mac_in_use: str | None


@dataclass(frozen=True)
class OvsPort:
    name: str
    tag: int | None
    interfaces: tuple[str, ...]


@dataclass(frozen=True)
class OvsBridge:
    name: str
    datapath_type: str
    protocols: tuple[str, ...]
    flow_protocol: str


@dataclass(frozen=True)
class OvsState:
    available: bool
    bridges: tuple[OvsBridge, ...] = ()
    ports: tuple[OvsPort, ...] = ()
    interfaces: tuple[OvsInterface, ...] = ()
    flows: tuple[Flow, ...] = ()
    errors: tuple[str, ...] = ()

    def flows_in(self, bridge: str, table: int) -> tuple[Flow, ...]:
        return tuple(f for f in self.flows if f.bridge == bridge and f.table == table)


@dataclass(frozen=True)
class NodeObservation:
    """Everything collected from one node. `host` is its Neutron host name (binding:host_id)."""

    host: str
    namespaces: Mapping[str, Namespace]
    ovs: OvsState
    fip_linklocal: Mapping[str, IPNetwork] | None
    fip_priorities: Mapping[IPAddress, int] | None
    errors: tuple[str, ...] = ()
    state_path: str = DEFAULT_STATE_PATH  # where the L3 agent keeps its state files

    def ns(self, name: str) -> Namespace | None:
        namespace = self.namespaces.get(name)
        return namespace if namespace is not None and namespace.ok else None


def _error_text(entry: Any) -> str:
    if isinstance(entry, Mapping):
        what = entry.get("what") or entry.get("command") or "command"
        rc = entry.get("rc")
        stderr = str(entry.get("stderr") or entry.get("msg") or "").strip()
        return f"{what} (rc={rc}): {stderr}" if rc is not None else f"{what}: {stderr}"
    return str(entry)


def _links(raw: Iterable[Mapping[str, Any]]) -> tuple[Link, ...]:
    links = []
    for item in raw:
        info = item.get("linkinfo") or {}
        links.append(
            Link(
                name=item["ifname"],
                ifindex=int(item["ifindex"]),
                kind=info.get("info_kind"),
                mac=(item.get("address") or "").lower() or None,
                mtu=int(item.get("mtu", 0)),
                operstate=item.get("operstate", ""),
                flags=tuple(item.get("flags", ())),
                peer_ifindex=item.get("link_index"),
                peer_netnsid=item.get("link_netnsid"),
            )
        )
    return tuple(links)


def _addresses(raw: Iterable[Mapping[str, Any]]) -> tuple[Address, ...]:
    out = []
    for item in raw:
        for info in item.get("addr_info", ()):
            if info.get("family") not in ("inet", "inet6"):
                continue
            iface = ipaddress.ip_interface(f"{info['local']}/{info['prefixlen']}")
            out.append(Address(item["ifname"], iface, info.get("scope", "global")))
    return tuple(out)


def _family_of(dst: str, gateway: str | None, default: int) -> int:
    for value in (dst, gateway):
        if value and value != "default":
            return 6 if ":" in value else 4
    return default


def _routes(raw: Mapping[str, Iterable[Mapping[str, Any]]]) -> tuple[Route, ...]:
    out = []
    for fam_key, items in raw.items():
        for item in items:
            dst = item.get("dst", "default")
            gateway = item.get("gateway")
            out.append(
                Route(
                    family=_family_of(dst, gateway, int(fam_key)),
                    table=str(item.get("table", "main")),
                    dst=dst,
                    gateway=ipaddress.ip_address(gateway) if gateway else None,
                    dev=item.get("dev"),
                    protocol=item.get("protocol"),
                    type=item.get("type", "unicast"),
                )
            )
    return tuple(out)


def _rules(raw: Mapping[str, Iterable[Mapping[str, Any]]]) -> tuple[Rule, ...]:
    out = []
    for fam_key, items in raw.items():
        for item in items:
            src = item.get("src", "all")
            if "srclen" in item:
                src = f"{src}/{item['srclen']}"
            out.append(
                Rule(
                    family=int(fam_key),
                    priority=int(item.get("priority", 0)),
                    src=src,
                    table=str(item.get("table", "main")),
                    iif=item.get("iif"),
                )
            )
    return tuple(out)


def _neighbours(raw: Iterable[Mapping[str, Any]]) -> tuple[Neighbour, ...]:
    out = []
    for item in raw:
        try:
            dst = ipaddress.ip_address(item["dst"])
        except (KeyError, ValueError):
            continue
        lladdr = item.get("lladdr")
        out.append(
            Neighbour(
                dst,
                item.get("dev", ""),
                lladdr.lower() if lladdr else None,
                tuple(item.get("state", ())),
            )
        )
    return tuple(out)


def _iptables(raw: Mapping[str, Any]) -> tuple[str | None, bool, tuple[IptRule, ...]]:
    tables = raw.get("tables") or {}
    rules = []
    for table, content in tables.items():
        for chain, chain_data in (content.get("chains") or {}).items():
            for rule in chain_data.get("rules", ()):
                rules.append(
                    IptRule(
                        table=table,
                        chain=chain,
                        raw=rule.get("raw", ""),
                        target=rule.get("target"),
                        options=dict(rule.get("options") or {}),
                        negated=frozenset(rule.get("negated") or ()),
                    )
                )
    return raw.get("backend"), bool(raw.get("collected")), tuple(rules)


def _namespace(raw: Mapping[str, Any]) -> Namespace:
    backend, collected, ipt = _iptables(raw.get("iptables") or {})
    return Namespace(
        name=raw["name"],
        status=raw.get("status", "ok"),
        links=_links(raw.get("links", ())),
        addresses=_addresses(raw.get("addresses", ())),
        routes=_routes(raw.get("routes") or {}),
        rules=_rules(raw.get("rules") or {}),
        neighbours=_neighbours(raw.get("neighbours", ())),
        proxy_neighbours=_neighbours(raw.get("neighbours_proxy", ())),
        sysctls={str(k): str(v) for k, v in (raw.get("sysctls") or {}).items()},
        iptables_backend=backend,
        iptables_collected=collected,
        iptables=ipt,
        errors=tuple(_error_text(e) for e in raw.get("errors", ())),
    )


def _as_map(value: Any) -> dict[str, str]:
    """OVSDB JSON map (["map", [[k, v], ...]]) or a plain dict -> dict."""
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, list) and len(value) == 2 and value[0] == "map":
        return {str(k): str(v) for k, v in value[1]}
    return {}


def _optional_int(value: Any) -> int | None:
    if isinstance(value, bool) or value in (None, "", []):
        return None
    if isinstance(value, list):  # OVSDB empty set ["set", []]
        return None
    return int(value)


def _ovs(raw: Mapping[str, Any]) -> OvsState:
    flows = []
    bridges = []
    for br in raw.get("bridges", ()):
        bridges.append(
            OvsBridge(
                name=br["name"],
                datapath_type=br.get("datapath_type") or "system",
                protocols=tuple(br.get("protocols") or ()),
                flow_protocol=br.get("flow_protocol") or "",
            )
        )
        for fl in br.get("flows", ()):
            flows.append(
                Flow(
                    bridge=br["name"],
                    table=int(fl.get("table", 0)),
                    priority=int(fl.get("priority", 32768)),
                    match=dict(fl.get("match") or {}),
                    actions=tuple(fl.get("actions") or ()),
                )
            )
    return OvsState(
        available=bool(raw.get("available")),
        bridges=tuple(bridges),
        ports=tuple(
            OvsPort(p["name"], _optional_int(p.get("tag")), tuple(p.get("interfaces") or ()))
            for p in raw.get("ports", ())
        ),
        interfaces=tuple(
            OvsInterface(
                name=i["name"],
                type=i.get("type") or "",
                external_ids=_as_map(i.get("external_ids")),
                ofport=_optional_int(i.get("ofport")),
                mac_in_use=i.get("mac_in_use") if isinstance(i.get("mac_in_use"), str) else None,
            )
            for i in raw.get("interfaces", ())
        ),
        flows=tuple(flows),
        errors=tuple(_error_text(e) for e in raw.get("errors", ())),
    )


def _state_file(raw: Mapping[str, Any] | None) -> list[Mapping[str, Any]] | None:
    if not raw or raw.get("status") != "ok":
        return None
    return list(raw.get("entries", ()))


def parse_node(doc: Mapping[str, Any], host: str | None = None) -> NodeObservation:
    """Turn one `dvr_collect` result into a NodeObservation.

    `host` overrides the collector's hostname with the Neutron host name (an inventory variable
    on clouds where the two differ).
    """
    if doc.get("schema") != 1:
        raise CollectorSchemaError(f"collector schema {doc.get('schema')!r} is not 1")
    state = doc.get("l3_agent_state") or {}
    linklocal = _state_file(state.get("fip_linklocal_networks"))
    priorities = _state_file(state.get("fip_priorities"))
    namespaces = {ns["name"]: _namespace(ns) for ns in doc.get("namespaces", ())}
    return NodeObservation(
        host=host or doc.get("hostname", ""),
        namespaces=namespaces,
        ovs=_ovs(doc.get("ovs") or {}),
        fip_linklocal=None
        if linklocal is None
        else {e["router_id"]: ipaddress.ip_network(e["cidr"]) for e in linklocal},
        fip_priorities=None
        if priorities is None
        else {ipaddress.ip_address(e["fip"]): int(e["priority"]) for e in priorities},
        errors=tuple(_error_text(e) for e in doc.get("errors", ())),
        state_path=state.get("state_path") or DEFAULT_STATE_PATH,
    )
