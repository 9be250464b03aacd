"""Family 1 (fg): the fip-<ext net> namespace of each host: its one fg- device, proxy ARP, routes.

Source: neutron/agent/l3/dvr_fip_ns.py (create_or_update_gateway_port,
_add_rtr_ext_route_rule_to_route_table).
"""

from __future__ import annotations

import ipaddress

from dvr_verify.checks.common import Findings, Nodes, netns_cmd
from dvr_verify.expect import Expectations, Port, Presence, int_of_ip
from dvr_verify.findings import Status
from dvr_verify.model import Namespace


def _fg_device(fin: Findings, ns: Namespace, host: str, port: Port, subject: str) -> str | None:
    name = port.device("fg-")
    fgs = ns.links_with_prefix("fg-")
    hint = netns_cmd(ns.name, "ip -d link show")
    observed = ", ".join(lk.name for lk in fgs) or "none"
    fin.verdict(
        "fg.device",
        len(fgs) == 1 and fgs[0].name == name,
        subject,
        expected=f"exactly one fg- device: {name}",
        observed=observed,
        node=host,
        namespace=ns.name,
        device=name,
        hint=hint,
    )
    link = ns.link(name)
    if link is None:
        return None
    fin.verdict(
        "fg.mac",
        link.mac == port.mac,
        subject,
        expected=port.mac,
        observed=str(link.mac),
        node=host,
        namespace=ns.name,
        device=name,
        hint=netns_cmd(ns.name, f"ip link show {name}"),
    )
    have = {a.ip for a in ns.addresses_of(name)}
    want = set(port.ips())
    fin.verdict(
        "fg.addresses",
        want <= have,
        subject,
        expected=", ".join(map(str, sorted(want))),
        observed=", ".join(map(str, sorted(have))) or "none",
        node=host,
        namespace=ns.name,
        device=name,
        hint=netns_cmd(ns.name, f"ip addr show {name}"),
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
        ns = fin.namespace(nodes, host, ns_exp.name, "fg.namespace", subject)
        if ns is None:
            continue
        fg = _fg_device(fin, ns, host, port, subject)
        fin.sysctl(ns, host, "net.ipv4.ip_nonlocal_bind", ("1",), "fg.sysctl", subject)
        if fg is None:
            continue
        fin.sysctl(
            ns, host, f"net.ipv4.conf.{fg}.proxy_arp", ("1",), "fg.proxy_arp", subject, device=fg
        )
        # proxy_delay=1 (1/100 s) reads back 0 on CONFIG_HZ=250 kernels; 80 = never written.
        fin.sysctl(
            ns,
            host,
            f"net.ipv4.neigh.{fg}.proxy_delay",
            ("0", "1"),
            "fg.proxy_delay",
            subject,
            device=fg,
            fail=Status.WARN,
        )
        _main_table(fin, exp, ns, host, fg, ext, subject)
        _router_tables(fin, exp, ns, host, fg, ext, subject)
        _notrack(fin, ns, host, subject)
    return fin.items


def _main_table(
    fin: Findings, exp: Expectations, ns: Namespace, host: str, fg: str, ext: str, subject: str
) -> None:
    hint = netns_cmd(ns.name, "ip route")
    main = ns.routes_in("main")
    defaults = [r.text() for r in main if r.is_default]
    fin.verdict(
        "fg.no_default_route",
        not defaults,
        subject,
        expected="no default route in main",
        observed=", ".join(defaults) or "none",
        node=host,
        namespace=ns.name,
        hint=hint,
    )
    for subnet in exp.subnets.values():
        if subnet.network_id != ext or subnet.version != 4:
            continue
        ok = any(r.dst == str(subnet.cidr) and r.dev == fg for r in main)
        fin.verdict(
            "fg.connected_route",
            ok,
            subject,
            expected=f"{subnet.cidr} dev {fg}",
            observed="present" if ok else "missing",
            node=host,
            namespace=ns.name,
            device=fg,
            hint=hint,
        )


def _router_tables(
    fin: Findings, exp: Expectations, ns: Namespace, host: str, fg: str, ext: str, subject: str
) -> None:
    gateway = exp.ext_gateway(ext)
    for router in exp.routers.values():
        if router.ext_net_id != ext or host not in router.hosts:
            continue
        fpr = ns.link(router.fpr)
        if fpr is None:
            continue  # reported by the rfp/fpr family
        fpr_ips = [a.ip for a in ns.addresses_of(router.fpr)]
        if not fpr_ips:
            continue
        table = str(int_of_ip(fpr_ips[0]))
        rules = [r for r in ns.rules_for() if r.iif == router.fpr]
        ok = any(r.table == table and r.priority == int(table) for r in rules)
        fin.verdict(
            "fg.fpr_rule",
            ok,
            f"{subject} router {router.id}",
            expected=f"{table}: from all iif {router.fpr} lookup {table}",
            observed=", ".join(r.text() for r in rules) or "none",
            node=host,
            namespace=ns.name,
            device=router.fpr,
            hint=netns_cmd(ns.name, "ip rule"),
        )
        routes = ns.routes_in(table)
        want_gw = ipaddress.ip_address(gateway) if gateway else None
        ok = any(
            r.is_default and r.dev == fg and (want_gw is None or r.gateway == want_gw)
            for r in routes
        )
        fin.verdict(
            "fg.fpr_table",
            ok,
            f"{subject} router {router.id}",
            expected=f"default via {gateway} dev {fg} table {table}",
            observed=", ".join(r.text() for r in routes) or "table empty",
            node=host,
            namespace=ns.name,
            device=fg,
            hint=netns_cmd(ns.name, f"ip route show table {table}"),
        )


def _notrack(fin: Findings, ns: Namespace, host: str, subject: str) -> None:
    hint = netns_cmd(ns.name, "iptables-save -t raw")
    if not ns.iptables_collected:
        fin.not_verified(
            "fg.notrack",
            subject,
            "raw table not collected",
            node=host,
            namespace=ns.name,
            hint=hint,
        )
        return
    ok = any(r.target == "CT" and "--notrack" in r.options for r in ns.iptables_rules("raw"))
    fin.verdict(
        "fg.notrack",
        ok,
        subject,
        expected="raw PREROUTING -j CT --notrack",
        observed="present" if ok else "missing",
        fail=Status.WARN,
        node=host,
        namespace=ns.name,
        hint=hint,
    )
