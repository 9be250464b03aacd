"""Families 4 (qr) and 5 (SNAT path): the router's ports on every host that holds it.

Source: neutron/agent/l3/dvr_local_router.py (_snat_redirect_add, _set_subnet_arp_info),
neutron/agent/l3/dvr_edge_router.py (_create_dvr_gateway, snat namespace), router_info.py.
"""

from __future__ import annotations

from dvr_verify.checks.common import Findings, Nodes, netns_cmd
from dvr_verify.expect import Expectations, Port, RouterExpectation, int_of_ip
from dvr_verify.findings import Status
from dvr_verify.model import Namespace


def _holders(router: RouterExpectation, nodes: Nodes) -> list[str]:
    """Hosts that must hold qrouter-, plus collected hosts that do (the same ports apply)."""
    seen = {h for h, n in nodes.items() if n.ns(router.qrouter_ns) is not None}
    return sorted(router.hosts | seen)


def _port_device(
    fin: Findings, ns: Namespace, host: str, port: Port, prefix: str, check: str, subject: str
) -> str | None:
    name = port.device(prefix)
    link = ns.link(name)
    hint = netns_cmd(ns.name, f"ip addr show {name}")
    if not fin.verdict(
        check,
        link is not None,
        subject,
        expected=f"{name} present",
        observed="present" if link else "missing",
        node=host,
        namespace=ns.name,
        device=name,
        hint=hint,
    ):
        return None
    assert link is not None
    have = {a.interface for a in ns.addresses_of(name)}
    want = set()
    for fixed in port.fixed_ips:
        if fixed.address.version != 4:
            continue
        want.add(f"{fixed.address}")
    observed_ips = {str(i.ip) for i in have}
    ok = link.mac == port.mac and want <= observed_ips
    fin.verdict(
        f"{check}_address",
        ok,
        subject,
        expected=f"mac {port.mac}, ip {', '.join(sorted(want))}",
        observed=f"mac {link.mac}, ip {', '.join(sorted(str(i) for i in have)) or 'none'}",
        node=host,
        namespace=ns.name,
        device=name,
        hint=hint,
    )
    return name


def check_qr_ports(exp: Expectations, nodes: Nodes) -> list:
    """Every host holding qrouter-<router> has each qr- device with the API's MAC and IP."""
    fin = Findings()
    for router in exp.routers.values():
        subject = f"router {router.id}"
        for host in _holders(router, nodes):
            ns = fin.namespace(nodes, host, router.qrouter_ns, "qr.namespace", subject)
            if ns is None:
                continue
            for port in router.interface_ports:
                if _port_device(fin, ns, host, port, "qr-", "qr.device", subject):
                    _vm_neighbours(fin, exp, ns, host, port, subject)
            extra = [lk.name for lk in ns.links_with_prefix("qg-")]
            fin.verdict(
                "qr.no_qg",
                not extra,
                subject,
                expected="no qg- in qrouter-",
                observed=", ".join(extra) or "none",
                node=host,
                namespace=ns.name,
                hint=netns_cmd(ns.name, "ip a"),
            )
    return fin.items


def _vm_neighbours(
    fin: Findings, exp: Expectations, ns: Namespace, host: str, qr_port: Port, subject: str
) -> None:
    """The agent pins every bound port of the subnet (any host) as PERMANENT on qr-."""
    qr = qr_port.device("qr-")
    for fixed in qr_port.fixed_ips:
        for port in exp.bound_ports_on(fixed.subnet_id):
            for ip in port.ips(fixed.address.version):
                fin.permanent_neighbour("qr.neighbour", subject, ns, host, qr, ip, port.mac)


def check_snat_path(exp: Expectations, nodes: Nodes) -> list:
    """SNAT redirect rules/tables in qrouter-, and sg-/qg-/default route/SNAT rule in snat-."""
    fin = Findings()
    for router in exp.routers.values():
        if not router.ext_net_id:
            continue
        subject = f"router {router.id}"
        for host in _holders(router, nodes):
            ns = fin.namespace(nodes, host, router.qrouter_ns, "snat.redirect", subject)
            if ns is not None:
                _redirects(fin, ns, host, router, subject)
        if router.ha and router.snat_hosts:
            _ha_active(fin, router, subject)
        for binding in router.snat_hosts:
            ns = fin.namespace(nodes, binding.host, router.snat_ns, "snat.namespace", subject)
            if ns is None:
                continue
            if not binding.active:
                continue  # DVR+HA standby: devices exist, addresses only on the active one
            _snat_namespace(fin, exp, ns, binding.host, router, subject)
    return fin.items


def _ha_active(fin: Findings, router: RouterExpectation, subject: str) -> None:
    """DVR+HA: exactly one of the router's L3 agents reports the router active. None means the
    API does not know who holds SNAT (keepalived not yet elected, or the agent's state report
    lost); two or more is split brain."""
    states = ", ".join(f"{b.host}={b.ha_state or '?'}" for b in router.snat_hosts)
    fin.verdict(
        "snat.ha_active",
        len(router.active_snat_hosts) == 1,
        subject,
        expected="exactly one L3 agent with ha_state active",
        observed=states,
        hint=f"openstack network agent list --router {router.id} --long",
    )


def _redirects(
    fin: Findings, ns: Namespace, host: str, router: RouterExpectation, subject: str
) -> None:
    for qr_port in router.interface_ports:
        qr = qr_port.device("qr-")
        for fixed in qr_port.fixed_ips:
            if fixed.address.version != 4:
                continue
            sg = next(
                (
                    p
                    for p in router.snat_ports
                    if any(f.subnet_id == fixed.subnet_id for f in p.fixed_ips)
                ),
                None,
            )
            if sg is None:
                continue
            sg_ip = next(f.address for f in sg.fixed_ips if f.subnet_id == fixed.subnet_id)
            table = str(int_of_ip(fixed.address))
            plen = next(
                (
                    a.interface.network.prefixlen
                    for a in ns.addresses_of(qr)
                    if a.ip == fixed.address
                ),
                None,
            )
            rules = [r for r in ns.rules_for() if r.table == table]
            ok = any(
                r.priority == int(table)
                and r.src.startswith(f"{fixed.address}/")
                and (plen is None or r.src == f"{fixed.address}/{plen}")
                for r in rules
            )
            fin.verdict(
                "snat.redirect_rule",
                ok,
                subject,
                expected=f"{table}: from {fixed.address}/{plen or '<plen>'} lookup {table}",
                observed=", ".join(r.text() for r in rules) or "no rule",
                node=host,
                namespace=ns.name,
                device=qr,
                hint=netns_cmd(ns.name, "ip rule"),
            )
            routes = ns.routes_in(table)
            ok = any(r.is_default and r.gateway == sg_ip and r.dev == qr for r in routes)
            fin.verdict(
                "snat.redirect_table",
                ok,
                subject,
                expected=f"default via {sg_ip} dev {qr} table {table}",
                observed=", ".join(r.text() for r in routes) or "table empty",
                node=host,
                namespace=ns.name,
                device=qr,
                hint=netns_cmd(ns.name, f"ip route show table {table}"),
            )
            fin.permanent_neighbour("snat.sg_neighbour", subject, ns, host, qr, sg_ip, sg.mac)


def _snat_namespace(
    fin: Findings,
    exp: Expectations,
    ns: Namespace,
    host: str,
    router: RouterExpectation,
    subject: str,
) -> None:
    for port in router.snat_ports:
        _port_device(fin, ns, host, port, "sg-", "snat.sg", subject)
    gw = router.gateway_port
    if gw is None:
        fin.add(
            "snat.qg",
            Status.FAIL,
            subject,
            node=host,
            namespace=ns.name,
            expected="a network:router_gateway port",
            observed="none in the API",
        )
        return
    qg = _port_device(fin, ns, host, gw, "qg-", "snat.qg", subject)
    if qg is None:
        return
    ext_gw = exp.ext_gateway(router.ext_net_id or "")
    routes = [r for r in ns.routes_in("main") if r.is_default]
    ok = any(r.dev == qg and (ext_gw is None or r.gateway == ext_gw) for r in routes)
    fin.verdict(
        "snat.default_route",
        ok,
        subject,
        expected=f"default via {ext_gw} dev {qg}",
        observed=", ".join(r.text() for r in routes) or "no default route",
        node=host,
        namespace=ns.name,
        device=qg,
        hint=netns_cmd(ns.name, "ip route"),
    )
    if not router.enable_snat:
        return
    hint = netns_cmd(ns.name, "iptables-save -t nat")
    if not ns.iptables_collected:
        fin.not_verified(
            "snat.rule", subject, "nat table not collected", node=host, namespace=ns.name, hint=hint
        )
        return
    gw_ip = gw.ips()[0] if gw.ips() else None
    rule = next(
        (
            r
            for r in ns.iptables_rules("nat", "neutron-l3-agent-snat")
            if r.target == "SNAT"
            and r.opt("-o") == qg
            and "-o" not in r.negated
            and r.opt("--to-source") == str(gw_ip)
        ),
        None,
    )
    fin.verdict(
        "snat.rule",
        rule is not None,
        subject,
        expected=f"neutron-l3-agent-snat -o {qg} -j SNAT --to-source {gw_ip}",
        observed=rule.raw if rule else "no such rule",
        node=host,
        namespace=ns.name,
        device=qg,
        hint=hint,
    )
