"""Families 4 (qr) and 5 (SNAT path): the router's ports on every host that holds it.

Source: neutron/agent/l3/dvr_local_router.py (_snat_redirect_add, _set_subnet_arp_info),
neutron/agent/l3/dvr_edge_router.py (_create_dvr_gateway, snat namespace), router_info.py.
"""

from __future__ import annotations

from dvr_verify.checks.common import At, Findings, Nodes
from dvr_verify.expect import Expectations, FixedIP, Port, RouterExpectation, int_of_ip


def _holders(router: RouterExpectation, nodes: Nodes) -> list[str]:
    """Hosts that must hold qrouter-, plus collected hosts that do (the same ports apply)."""
    seen = {h for h, n in nodes.items() if n.ns(router.qrouter_ns) is not None}
    return sorted(router.hosts | seen)


def _port_device(at: At, port: Port, prefix: str, check: str) -> str | None:
    """The port's `prefix` device, with the API's MAC and IPv4 addresses; its name if present."""
    name = port.device(prefix)
    link = at.inside.link(name)
    cmd = f"ip addr show {name}"
    if not at.verdict(
        check,
        link is not None,
        expected=f"{name} present",
        observed="present" if link else "missing",
        device=name,
        cmd=cmd,
    ):
        return None
    assert link is not None
    have = {a.interface for a in at.inside.addresses_of(name)}
    want = {str(fixed.address) for fixed in port.fixed_ips if fixed.address.version == 4}
    observed_ips = {str(i.ip) for i in have}
    at.verdict(
        f"{check}_address",
        link.mac == port.mac and want <= observed_ips,
        expected=f"mac {port.mac}, ip {', '.join(sorted(want))}",
        observed=f"mac {link.mac}, ip {', '.join(sorted(str(i) for i in have)) or 'none'}",
        device=name,
        cmd=cmd,
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
            at = fin.at(host, ns, subject)
            for port in router.interface_ports:
                if _port_device(at, port, "qr-", "qr.device"):
                    _vm_neighbours(at, exp, port)
            extra = [lk.name for lk in ns.links_with_prefix("qg-")]
            at.absent("qr.no_qg", extra, expected="no qg- in qrouter-", cmd="ip a")
    return fin.items


def _vm_neighbours(at: At, exp: Expectations, qr_port: Port) -> None:
    """The agent pins every bound port of the subnet (any host) as PERMANENT on qr-."""
    qr = qr_port.device("qr-")
    for fixed in qr_port.fixed_ips:
        for port in exp.bound_ports_on(fixed.subnet_id):
            for ip in port.ips(fixed.address.version):
                at.permanent_neighbour("qr.neighbour", qr, ip, port.mac)


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
                _redirects(fin.at(host, ns, subject), router)
        if router.ha and router.snat_hosts:
            _ha_active(fin, router, subject)
        for binding in router.snat_hosts:
            ns = fin.namespace(nodes, binding.host, router.snat_ns, "snat.namespace", subject)
            if ns is None:
                continue
            if not binding.active:
                continue  # DVR+HA standby: devices exist, addresses only on the active one
            _snat_namespace(fin.at(binding.host, ns, subject), exp, router)
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


def _redirects(at: At, router: RouterExpectation) -> None:
    """Per IPv4 subnet with an sg- port: redirect rule, its table and the sg- neighbour."""
    for qr_port in router.interface_ports:
        for fixed in qr_port.fixed_ips:
            sg = router.snat_port_on(fixed.subnet_id)
            if fixed.address.version == 4 and sg is not None:
                _redirect(at, qr_port.device("qr-"), fixed, sg)


def _redirect(at: At, qr: str, fixed: FixedIP, sg: Port) -> None:
    sg_ip = next(f.address for f in sg.fixed_ips if f.subnet_id == fixed.subnet_id)
    table = str(int_of_ip(fixed.address))
    plen = next(
        (
            a.interface.network.prefixlen
            for a in at.inside.addresses_of(qr)
            if a.ip == fixed.address
        ),
        None,
    )
    rules = [r for r in at.inside.rules_for() if r.table == table]
    ok = any(
        r.priority == int(table)
        and r.src.startswith(f"{fixed.address}/")
        and (plen is None or r.src == f"{fixed.address}/{plen}")
        for r in rules
    )
    at.verdict(
        "snat.redirect_rule",
        ok,
        expected=f"{table}: from {fixed.address}/{plen or '<plen>'} lookup {table}",
        observed=", ".join(r.text() for r in rules) or "no rule",
        device=qr,
        cmd="ip rule",
    )
    at.route("snat.redirect_table", "default", sg_ip, qr, table=table)
    at.permanent_neighbour("snat.sg_neighbour", qr, sg_ip, sg.mac)


def _snat_namespace(at: At, exp: Expectations, router: RouterExpectation) -> None:
    """The active SNAT host's snat-: sg- and qg- devices, default route, SNAT rule."""
    for port in router.snat_ports:
        _port_device(at, port, "sg-", "snat.sg")
    gw = router.gateway_port
    if gw is None:
        at.fail("snat.qg", expected="a network:router_gateway port", observed="none in the API")
        return
    qg = _port_device(at, gw, "qg-", "snat.qg")
    if qg is None:
        return
    at.route("snat.default_route", "default", exp.ext_gateway(router.ext_net_id or ""), qg)
    if router.enable_snat:
        _snat_rule(at, gw, qg)


def _snat_rule(at: At, gw: Port, qg: str) -> None:
    if not at.inside.iptables_collected:
        at.not_verified("snat.rule", "nat table not collected", cmd="iptables-save -t nat")
        return
    gw_ip = gw.ips()[0] if gw.ips() else None
    rule = next(
        (
            r
            for r in at.inside.iptables_rules("nat", "neutron-l3-agent-snat")
            if r.target == "SNAT"
            and r.opt("-o") == qg
            and "-o" not in r.negated
            and r.opt("--to-source") == str(gw_ip)
        ),
        None,
    )
    at.iptables_rule(
        "snat.rule",
        "nat",
        rule,
        expected=f"neutron-l3-agent-snat -o {qg} -j SNAT --to-source {gw_ip}",
        device=qg,
    )
