"""Family 1 (fg): the fip-<ext net> namespace of each host: its one fg- device, proxy ARP, routes.

Source: neutron/agent/l3/dvr_fip_ns.py (create_or_update_gateway_port,
_add_rtr_ext_route_rule_to_route_table).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from dvr_verify.checks.common import At, Findings, Nodes
from dvr_verify.expect import Expectations, Port, Presence, int_of_ip
from dvr_verify.findings import Status
from dvr_verify.model import NodeObservation

AGENT_GW_RACE = (
    "Neutron made several for one host: two routers' first floating IPs on it at once race in"
    " create_fip_agent_gw_port_if_not_exists"
)


def fg_ports_in_use(exp: Expectations, nodes: Mapping[str, NodeObservation]) -> Expectations:
    """Where Neutron has several agent gateway ports for one host and network, the expectations
    with the one whose fg- device that host's fip- namespace has (the others are a leak that
    `fg.port_unique` names once, not a fault of every check that uses the fg- port)."""
    chosen = {}
    for (ext, host), ports in exp.fg_duplicates.items():
        node = nodes.get(host)
        ns = node.ns(f"fip-{ext}") if node is not None else None
        used = [p for p in ports if ns is not None and ns.link(p.device("fg-")) is not None]
        if used:
            chosen[(ext, host)] = used[0]
    if not chosen:
        return exp
    fg_ports = {**exp.fg_ports, **chosen}
    fips = tuple(
        replace(f, fg_port=fg_ports.get((f.ext_net_id, f.host), f.fg_port)) if f.host else f
        for f in exp.fips
    )
    return replace(exp, fg_ports=fg_ports, fips=fips)


def _fg_port_unique(fin: Findings, exp: Expectations, ext: str, host: str, subject: str) -> None:
    """One network:floatingip_agent_gateway port per host and external network."""
    ports = exp.fg_duplicates.get((ext, host), ())
    in_use = exp.fg_port(ext, host)
    fin.verdict(
        "fg.port_unique",
        not ports,
        subject,
        node=host,
        namespace=f"fip-{ext}",
        expected="one network:floatingip_agent_gateway port for this host and network",
        observed=(
            f"{len(ports)}: {', '.join(p.id for p in ports)} (in use: "
            f"{in_use.id if in_use else 'none'}; {AGENT_GW_RACE})"
            if ports
            else "one"
        ),
        hint=f"openstack port list --device-owner network:floatingip_agent_gateway "
        f"--network {ext} --host {host}  (delete the unused: openstack port delete <id>)",
    )


def _fg_device(at: At, port: Port) -> str | None:
    """The one fg- device, with the port's MAC and addresses; its name if present."""
    name = port.device("fg-")
    fgs = at.inside.links_with_prefix("fg-")
    at.verdict(
        "fg.device",
        len(fgs) == 1 and fgs[0].name == name,
        expected=f"exactly one fg- device: {name}",
        observed=", ".join(lk.name for lk in fgs) or "none",
        device=name,
        cmd="ip -d link show",
    )
    link = at.inside.link(name)
    if link is None:
        return None
    at.verdict(
        "fg.mac",
        link.mac == port.mac,
        expected=port.mac,
        observed=str(link.mac),
        device=name,
        cmd=f"ip link show {name}",
    )
    have = {a.ip for a in at.inside.addresses_of(name)}
    want = set(port.ips())
    at.verdict(
        "fg.addresses",
        want <= have,
        expected=", ".join(map(str, sorted(want))),
        observed=", ".join(map(str, sorted(have))) or "none",
        device=name,
        cmd=f"ip addr show {name}",
    )
    return name


def check_fip_namespaces(exp: Expectations, nodes: Nodes) -> list:
    """fg device, proxy_arp/proxy_delay, nonlocal bind, main table, per-router fpr tables."""
    fin = Findings()
    for ns_exp in exp.namespaces:
        if not ns_exp.name.startswith("fip-") or ns_exp.presence is Presence.FORBIDDEN:
            continue
        host = ns_exp.host
        ext = ns_exp.name.removeprefix("fip-")
        port = exp.fg_port(ext, host)
        subject = f"{host} {ns_exp.name}"
        if ns_exp.presence is Presence.ALLOWED:
            node = nodes.get(host)
            if node is None or ns_exp.name not in node.namespaces:
                continue
        if port is None:
            fin.add(
                "fg.port",
                Status.FAIL,
                subject,
                node=host,
                namespace=ns_exp.name,
                expected="a network:floatingip_agent_gateway port bound to this host",
                observed="none in the API",
                hint=f"openstack port list --device-owner network:floatingip_agent_gateway "
                f"--network {ext} --host {host}",
            )
            continue
        _fg_port_unique(fin, exp, ext, host, subject)
        ns = fin.namespace(nodes, host, ns_exp.name, "fg.namespace", subject)
        if ns is not None:
            _fip_namespace(fin.at(host, ns, subject), exp, port, ext)
    return fin.items


def _fip_namespace(at: At, exp: Expectations, port: Port, ext: str) -> None:
    fg = _fg_device(at, port)
    at.sysctl("fg.sysctl", "net.ipv4.ip_nonlocal_bind", ("1",))
    if fg is None:
        return
    at.sysctl("fg.proxy_arp", f"net.ipv4.conf.{fg}.proxy_arp", ("1",), device=fg)
    # proxy_delay=1 (1/100 s) reads back 0 on CONFIG_HZ=250 kernels; 80 = never written.
    at.sysctl(
        "fg.proxy_delay",
        f"net.ipv4.neigh.{fg}.proxy_delay",
        ("0", "1"),
        device=fg,
        fail=Status.WARN,
    )
    _main_table(at, exp, fg, ext)
    _router_tables(at, exp, fg, ext)
    _notrack(at)


def _main_table(at: At, exp: Expectations, fg: str, ext: str) -> None:
    main = at.inside.routes_in("main")
    defaults = [r.text() for r in main if r.is_default]
    at.absent("fg.no_default_route", defaults, expected="no default route in main", cmd="ip route")
    for subnet in exp.subnets.values():
        if subnet.network_id != ext or subnet.version != 4:
            continue
        ok = any(r.dst == str(subnet.cidr) and r.dev == fg for r in main)
        at.verdict(
            "fg.connected_route",
            ok,
            expected=f"{subnet.cidr} dev {fg}",
            observed="present" if ok else "missing",
            device=fg,
            cmd="ip route",
        )


def _router_tables(at: At, exp: Expectations, fg: str, ext: str) -> None:
    """Per router on the host: `iif fpr- lookup <table>` and that table's default via fg-."""
    ns = at.inside
    for router in exp.routers.values():
        if router.ext_net_id != ext or at.host not in router.hosts or ns.link(router.fpr) is None:
            continue  # a missing fpr- is reported by the rfp/fpr family
        fpr_ips = [a.ip for a in ns.addresses_of(router.fpr)]
        if not fpr_ips:
            continue
        table = str(int_of_ip(fpr_ips[0]))
        rules = [r for r in ns.rules_for() if r.iif == router.fpr]
        of_router = replace(at, subject=f"{at.subject} router {router.id}")
        of_router.verdict(
            "fg.fpr_rule",
            any(r.table == table and r.priority == int(table) for r in rules),
            expected=f"{table}: from all iif {router.fpr} lookup {table}",
            observed=", ".join(r.text() for r in rules) or "none",
            device=router.fpr,
            cmd="ip rule",
        )
        of_router.route("fg.fpr_table", "default", exp.ext_gateway(ext), fg, table=table)


def _notrack(at: At) -> None:
    cmd = "iptables-save -t raw"
    if not at.inside.iptables_collected:
        at.not_verified("fg.notrack", "raw table not collected", cmd=cmd)
        return
    ok = any(r.target == "CT" and "--notrack" in r.options for r in at.inside.iptables_rules("raw"))
    at.verdict(
        "fg.notrack",
        ok,
        expected="raw PREROUTING -j CT --notrack",
        observed="present" if ok else "missing",
        fail=Status.WARN,
        cmd=cmd,
    )
