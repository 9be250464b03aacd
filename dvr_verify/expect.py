"""What the Neutron API says must exist: an API snapshot turned into typed expectations.

`fetch_snapshot` reads the admin API (openstacksdk); `load_snapshot` reads the same JSON from a
directory (fixtures, or a run's saved copy); `build_expectations` is pure.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from dvr_verify.model import IPAddress, IPNetwork

LINUX_DEV_LEN = 14
FIP_PRIORITY_RANGE = (32768, 72767)
FIP_LINKLOCAL_POOL = ipaddress.ip_network("169.254.64.0/18")
FIP_RT_TABLE = "16"

DVR_INTERFACE = "network:router_interface_distributed"
HA_INTERFACE = "network:ha_router_replicated_interface"
CSNAT = "network:router_centralized_snat"
ROUTER_GATEWAY = "network:router_gateway"
FIP_AGENT_GATEWAY = "network:floatingip_agent_gateway"
DHCP = "network:dhcp"

RESOURCES = ("routers", "ports", "floatingips", "networks", "subnets", "agents")


class ExpectationError(ValueError):
    """The API snapshot cannot be turned into DVR expectations (names what to fix)."""


def device_name(prefix: str, ident: str) -> str:
    """Neutron's device name: (prefix + id) cut to 14 characters (LINUX_DEV_LEN)."""
    return (prefix + ident)[:LINUX_DEV_LEN]


def int_of_ip(address: IPAddress) -> int:
    """Neutron's table id for an address (SNAT redirect tables, fip- per-router tables)."""
    return int(address)


class Presence(StrEnum):
    REQUIRED = "required"
    ALLOWED = "allowed"
    FORBIDDEN = "forbidden"


@dataclass(frozen=True)
class Subnet:
    id: str
    network_id: str
    cidr: IPNetwork
    gateway: IPAddress | None

    @property
    def version(self) -> int:
        return self.cidr.version


@dataclass(frozen=True)
class Network:
    id: str
    name: str
    mtu: int
    external: bool


@dataclass(frozen=True)
class FixedIP:
    subnet_id: str
    address: IPAddress


@dataclass(frozen=True)
class Port:
    id: str
    network_id: str
    mac: str
    fixed_ips: tuple[FixedIP, ...]
    device_owner: str
    device_id: str
    host: str
    status: str

    def ips(self, version: int = 4) -> tuple[IPAddress, ...]:
        return tuple(f.address for f in self.fixed_ips if f.address.version == version)

    def device(self, prefix: str) -> str:
        return device_name(prefix, self.id)


@dataclass(frozen=True)
class Agent:
    id: str
    host: str
    agent_type: str
    alive: bool
    admin_state_up: bool
    configurations: Mapping[str, Any]

    @property
    def agent_mode(self) -> str | None:
        return self.configurations.get("agent_mode")


@dataclass(frozen=True)
class SnatBinding:
    host: str
    ha_state: str | None

    @property
    def active(self) -> bool:
        return self.ha_state in (None, "", "active")


@dataclass(frozen=True)
class RouterExpectation:
    id: str
    name: str
    distributed: bool
    ha: bool
    ext_net_id: str | None
    enable_snat: bool
    gateway_port: Port | None
    interface_ports: tuple[Port, ...]
    snat_ports: tuple[Port, ...]
    snat_hosts: tuple[SnatBinding, ...]
    hosts: frozenset[str]
    maybe_hosts: frozenset[str]

    @property
    def rfp(self) -> str:
        return device_name("rfp-", self.id)

    @property
    def fpr(self) -> str:
        return device_name("fpr-", self.id)

    @property
    def qrouter_ns(self) -> str:
        return f"qrouter-{self.id}"

    @property
    def snat_ns(self) -> str:
        return f"snat-{self.id}"

    @property
    def fip_ns(self) -> str | None:
        return f"fip-{self.ext_net_id}" if self.ext_net_id else None

    @property
    def active_snat_hosts(self) -> tuple[str, ...]:
        return tuple(b.host for b in self.snat_hosts if b.active)

    def snat_port_on(self, subnet_id: str) -> Port | None:
        """The router's sg- (centralized SNAT) port on `subnet_id`."""
        return next(
            (p for p in self.snat_ports if any(f.subnet_id == subnet_id for f in p.fixed_ips)),
            None,
        )


class Placement(StrEnum):
    DISTRIBUTED = "distributed"  # plumbed on the host of its port (fip- + qrouter-)
    CENTRALIZED = "centralized"  # plumbed in snat- on qg- (unbound port, dvr_no_external host)
    UNPLUMBED = "unplumbed"  # nothing may set it up (host without L3 agent, no router)


@dataclass(frozen=True)
class FloatingIPExpectation:
    id: str
    address: IPAddress
    fixed_ip: IPAddress | None
    port: Port | None
    host: str | None
    router_id: str | None
    ext_net_id: str
    status: str
    placement: Placement
    fg_port: Port | None

    @property
    def subject(self) -> str:
        return str(self.address)


@dataclass(frozen=True)
class NamespaceExpectation:
    host: str
    name: str
    presence: Presence
    reason: str


@dataclass(frozen=True)
class Expectations:
    routers: Mapping[str, RouterExpectation]
    fips: tuple[FloatingIPExpectation, ...]
    networks: Mapping[str, Network]
    subnets: Mapping[str, Subnet]
    l3_agents: Mapping[str, Agent]
    ovs_agents: Mapping[str, Agent]
    fg_ports: Mapping[tuple[str, str], Port]
    ports: Mapping[str, Port] = field(default_factory=dict)
    namespaces: tuple[NamespaceExpectation, ...] = field(default=())
    # (ext net, host) -> every agent gateway port, where Neutron has more than one (a fault).
    fg_duplicates: Mapping[tuple[str, str], tuple[Port, ...]] = field(default_factory=dict)

    def bound_ports_on(self, subnet_id: str) -> tuple[Port, ...]:
        """Ports of VMs (and DHCP) on a subnet that are bound to a host."""
        return tuple(
            p
            for p in self.ports.values()
            if p.host
            and (p.device_owner.startswith("compute:") or p.device_owner == DHCP)
            and any(f.subnet_id == subnet_id for f in p.fixed_ips)
        )

    def fg_port(self, ext_net_id: str, host: str) -> Port | None:
        return self.fg_ports.get((ext_net_id, host))

    def ext_gateway(self, ext_net_id: str) -> IPAddress | None:
        for subnet in self.subnets.values():
            if subnet.network_id == ext_net_id and subnet.version == 4 and subnet.gateway:
                return subnet.gateway
        return None

    def namespace_presence(self, host: str, name: str) -> NamespaceExpectation | None:
        return next((n for n in self.namespaces if n.host == host and n.name == name), None)

    def required_namespaces(self, host: str) -> tuple[NamespaceExpectation, ...]:
        return tuple(
            n for n in self.namespaces if n.host == host and n.presence is Presence.REQUIRED
        )


# ---------------------------------------------------------------------------- snapshot I/O


def load_snapshot(directory: str | Path) -> dict[str, Any]:
    """Read `<resource>.json` files (GET /v2.0/<resource> bodies) and `router-l3-agents*.json`."""
    base = Path(directory)
    snap: dict[str, Any] = {}
    for name in RESOURCES:
        path = base / f"{name}.json"
        if not path.exists():
            raise ExpectationError(f"{path}: missing (GET /v2.0/{name} body)")
        snap[name] = json.loads(path.read_text())[name]
    l3: dict[str, list[dict[str, Any]]] = {}
    combined = base / "router-l3-agents.json"
    if combined.exists():
        body = json.loads(combined.read_text())
        if "agents" in body and len(snap["routers"]) == 1:
            l3[snap["routers"][0]["id"]] = body["agents"]
        else:
            l3.update(body)
    snap["router_l3_agents"] = l3
    return snap


def fetch_snapshot(conn: Any, router_ids: Sequence[str] | None = None) -> dict[str, Any]:
    """GET the resources from an admin openstacksdk connection, exactly as the API returns them."""
    snap: dict[str, Any] = {}
    for name in RESOURCES:
        snap[name] = _get(conn, f"/{name}")[name]
    routers = [r for r in snap["routers"] if not router_ids or r["id"] in router_ids]
    snap["router_l3_agents"] = {
        r["id"]: _get(conn, f"/routers/{r['id']}/l3-agents")["agents"] for r in routers
    }
    return snap


def _get(conn: Any, path: str) -> dict[str, Any]:
    response = conn.network.get(path)
    if response.status_code != 200:
        raise ExpectationError(f"GET {path}: HTTP {response.status_code}: {response.text[:200]}")
    return response.json()


# ---------------------------------------------------------------------------- building


def _port(raw: Mapping[str, Any]) -> Port:
    return Port(
        id=raw["id"],
        network_id=raw["network_id"],
        mac=raw["mac_address"].lower(),
        fixed_ips=tuple(
            FixedIP(f["subnet_id"], ipaddress.ip_address(f["ip_address"]))
            for f in raw.get("fixed_ips", ())
        ),
        device_owner=raw.get("device_owner") or "",
        device_id=raw.get("device_id") or "",
        host=raw.get("binding:host_id") or "",
        status=raw.get("status") or "",
    )


def _agent(raw: Mapping[str, Any]) -> Agent:
    return Agent(
        id=raw["id"],
        host=raw["host"],
        agent_type=raw.get("agent_type", ""),
        alive=bool(raw.get("alive")),
        admin_state_up=bool(raw.get("admin_state_up", True)),
        configurations=dict(raw.get("configurations") or {}),
    )


def _router(
    raw: Mapping[str, Any],
    ports: Iterable[Port],
    l3_agents_raw: Iterable[Mapping[str, Any]],
    l3_agents: Mapping[str, Agent],
) -> RouterExpectation:
    rid = raw["id"]
    mine = [p for p in ports if p.device_id == rid]
    interfaces = tuple(p for p in mine if p.device_owner in (DVR_INTERFACE, HA_INTERFACE))
    snat_ports = tuple(p for p in mine if p.device_owner == CSNAT)
    gateway = next((p for p in mine if p.device_owner == ROUTER_GATEWAY), None)
    gw_info = raw.get("external_gateway_info") or {}
    bindings = tuple(SnatBinding(a["host"], a.get("ha_state")) for a in l3_agents_raw)
    if not bindings and gateway is not None and gateway.host:
        bindings = (SnatBinding(gateway.host, None),)
    subnet_ids = {f.subnet_id for p in interfaces for f in p.fixed_ips}
    hosts: set[str] = set()
    maybe: set[str] = set()
    for port in ports:
        if not port.host or not any(f.subnet_id in subnet_ids for f in port.fixed_ips):
            continue
        if port.device_owner.startswith("compute:") or port.device_owner == "trunk:subport":
            hosts.add(port.host)
        elif port.device_owner == DHCP:
            maybe.add(port.host)  # host_dvr_for_dhcp (server side, default True)
    hosts.update(b.host for b in bindings)
    # A port bound to a host without an L3 agent gets no qrouter: nothing there can build it.
    hosts = {h for h in hosts if h in l3_agents}
    maybe = {h for h in maybe if h in l3_agents} - hosts
    return RouterExpectation(
        id=rid,
        name=raw.get("name") or "",
        distributed=bool(raw.get("distributed")),
        ha=bool(raw.get("ha")),
        ext_net_id=gw_info.get("network_id"),
        enable_snat=bool(gw_info.get("enable_snat", True)) if gw_info else False,
        gateway_port=gateway,
        interface_ports=interfaces,
        snat_ports=snat_ports,
        snat_hosts=bindings,
        hosts=frozenset(hosts),
        maybe_hosts=frozenset(maybe),
    )


def _placement(
    port: Port | None, router: RouterExpectation | None, l3_agents: Mapping[str, Agent]
) -> Placement:
    if port is None or router is None:
        return Placement.UNPLUMBED
    if not router.distributed:
        return Placement.CENTRALIZED
    if not port.host:
        return Placement.CENTRALIZED
    agent = l3_agents.get(port.host)
    if agent is None:
        return Placement.UNPLUMBED
    if agent.agent_mode == "dvr_no_external":
        return Placement.CENTRALIZED
    return Placement.DISTRIBUTED


def build_expectations(
    snapshot: Mapping[str, Any], fip_filter: Sequence[str] | None = None
) -> Expectations:
    """Expectations for the distributed routers and floating IPs in the snapshot.

    `fip_filter` keeps only the floating IPs whose id or address is listed (default: all).
    """
    ports = tuple(_port(p) for p in snapshot["ports"])
    agents = [_agent(a) for a in snapshot["agents"]]
    l3_agents = {a.host: a for a in agents if a.agent_type == "L3 agent"}
    ovs_agents = {a.host: a for a in agents if a.agent_type == "Open vSwitch agent"}
    networks = {n["id"]: _network(n) for n in snapshot["networks"]}
    subnets = {s["id"]: _subnet(s) for s in snapshot["subnets"]}
    l3_raw = snapshot.get("router_l3_agents") or {}
    routers = {
        r["id"]: _router(r, ports, l3_raw.get(r["id"], ()), l3_agents)
        for r in snapshot["routers"]
        if r.get("distributed")
    }
    by_host: dict[tuple[str, str], list[Port]] = {}
    for p in sorted(ports, key=lambda p: p.id):
        if p.device_owner == FIP_AGENT_GATEWAY and p.host:
            by_host.setdefault((p.network_id, p.host), []).append(p)
    fg_ports = {key: found[0] for key, found in by_host.items()}
    exp = Expectations(
        routers=routers,
        fips=(),
        networks=networks,
        subnets=subnets,
        l3_agents=l3_agents,
        ovs_agents=ovs_agents,
        fg_ports=fg_ports,
        ports={p.id: p for p in ports},
        fg_duplicates={k: tuple(found) for k, found in by_host.items() if len(found) > 1},
    )
    fips = (
        _fip(raw, exp)
        for raw in snapshot["floatingips"]
        if not fip_filter or raw["id"] in fip_filter or raw["floating_ip_address"] in fip_filter
    )
    in_scope = (f for f in fips if f is not None)
    exp = replace(exp, fips=tuple(sorted(in_scope, key=lambda f: f.address)))
    return replace(exp, namespaces=namespace_expectations(exp))


def _network(raw: Mapping[str, Any]) -> Network:
    return Network(
        raw["id"],
        raw.get("name") or "",
        int(raw.get("mtu") or 1500),
        bool(raw.get("router:external")),
    )


def _subnet(raw: Mapping[str, Any]) -> Subnet:
    return Subnet(
        raw["id"],
        raw["network_id"],
        ipaddress.ip_network(raw["cidr"]),
        ipaddress.ip_address(raw["gateway_ip"]) if raw.get("gateway_ip") else None,
    )


def _fip(raw: Mapping[str, Any], exp: Expectations) -> FloatingIPExpectation | None:
    """The floating IP's expectation; None for one on a legacy (centralized, non-DVR) router."""
    port = exp.ports.get(raw.get("port_id") or "")
    router = exp.routers.get(raw.get("router_id") or "")
    if raw.get("router_id") and router is None:
        return None  # out of scope
    placement = _placement(port, router, exp.l3_agents)
    host = port.host if port is not None and port.host else None
    ext = raw["floating_network_id"]
    return FloatingIPExpectation(
        id=raw["id"],
        address=ipaddress.ip_address(raw["floating_ip_address"]),
        fixed_ip=ipaddress.ip_address(raw["fixed_ip_address"])
        if raw.get("fixed_ip_address")
        else None,
        port=port,
        host=host,
        router_id=raw.get("router_id"),
        ext_net_id=ext,
        status=raw.get("status") or "",
        placement=placement,
        fg_port=exp.fg_ports.get((ext, host)) if host else None,
    )


def namespace_expectations(exp: Expectations) -> tuple[NamespaceExpectation, ...]:
    """Per host and namespace: required, allowed or forbidden, with the reason."""
    out: dict[tuple[str, str], NamespaceExpectation] = {}

    def put(host: str, name: str, presence: Presence, reason: str) -> None:
        key = (host, name)
        current = out.get(key)
        rank = {Presence.REQUIRED: 2, Presence.ALLOWED: 1, Presence.FORBIDDEN: 0}
        if current is None or rank[presence] > rank[current.presence]:
            out[key] = NamespaceExpectation(host, name, presence, reason)

    l3_hosts = set(exp.l3_agents)
    fip_hosts: dict[str, set[str]] = {}
    for router in exp.routers.values():
        for host in sorted(router.hosts):
            put(
                host,
                router.qrouter_ns,
                Presence.REQUIRED,
                "a port of the router's subnets is bound here",
            )
        for host in sorted(router.maybe_hosts):
            put(host, router.qrouter_ns, Presence.ALLOWED, "DHCP port here (host_dvr_for_dhcp)")
        for host in sorted(l3_hosts - router.hosts - router.maybe_hosts):
            put(host, router.qrouter_ns, Presence.FORBIDDEN, "no port of the router's subnets here")
        snat_hosts = {b.host for b in router.snat_hosts}
        if router.ext_net_id:
            for host in sorted(snat_hosts):
                put(host, router.snat_ns, Presence.REQUIRED, "SNAT host of the router")
            for host in router.hosts:
                agent = exp.l3_agents.get(host)
                if agent is not None and agent.agent_mode != "dvr_no_external":
                    fip_hosts.setdefault(router.ext_net_id, set()).add(host)
        for host in sorted(l3_hosts - snat_hosts):
            put(host, router.snat_ns, Presence.FORBIDDEN, "not a SNAT host of the router")
    ext_nets = {n for n, net in exp.networks.items() if net.external}
    for ext in sorted(ext_nets):
        required = fip_hosts.get(ext, set())
        for host in sorted(l3_hosts):
            name = f"fip-{ext}"
            if host in required:
                put(
                    host,
                    name,
                    Presence.REQUIRED,
                    "hosts a DVR router with a gateway on this network",
                )
            else:
                put(host, name, Presence.ALLOWED, "kept after the last router left (until restart)")
    return tuple(sorted(out.values(), key=lambda n: (n.host, n.name)))
