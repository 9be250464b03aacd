"""Family 3: one floating IP's plumbing on the host of its port (or in snat- when centralized).

Source: neutron/agent/l3/dvr_local_router.py (floating_ip_added_dist, floating_forward_rules),
neutron/agent/l3/dvr_fip_ns.py (fip-priorities), neutron/agent/l3/dvr_edge_router.py.
"""

from __future__ import annotations

from dataclasses import replace

from dvr_verify.checks.common import At, Findings, Nodes
from dvr_verify.expect import (
    FIP_PRIORITY_RANGE,
    FIP_RT_TABLE,
    Expectations,
    FloatingIPExpectation,
    Placement,
    Port,
)
from dvr_verify.findings import Status
from dvr_verify.model import IptRule, Namespace, NodeObservation

CHAIN = "neutron-l3-agent"


def check_floating_ips(exp: Expectations, nodes: Nodes) -> list:
    """Route in fip-, `from <fixed> lookup 16` in qrouter-, DNAT and SNAT rules."""
    fin = Findings()
    for fip in exp.fips:
        subject = fip.subject
        if fip.placement is Placement.UNPLUMBED or fip.fixed_ip is None:
            fin.add(
                "fip.placement",
                Status.NOT_VERIFIED,
                subject,
                observed="not associated, or its port's host has no L3 agent",
                hint=f"openstack floating ip show {fip.id}",
            )
            continue
        router = exp.routers[fip.router_id or ""]
        if fip.placement is Placement.CENTRALIZED:
            for host in router.active_snat_hosts:
                ns = fin.namespace(nodes, host, router.snat_ns, "fip.namespace", subject)
                if ns is not None:
                    _centralized(fin.at(host, ns, subject), fip, router.gateway_port)
            continue
        host = fip.host or ""
        qr = fin.namespace(nodes, host, router.qrouter_ns, "fip.namespace", subject)
        fns = fin.namespace(nodes, host, router.fip_ns or "", "fip.namespace", subject)
        if fns is not None:
            _fip_route(fin.at(host, fns, subject), fip, router.fpr, router.rfp, qr)
        if qr is not None:
            _fip_rule(fin.at(host, qr, subject), fip, nodes[host])
            _nat_rules(fin.at(host, qr, subject), fip, router.rfp)
    return fin.items


def _fip_route(
    at: At, fip: FloatingIPExpectation, fpr: str, rfp: str, qr: Namespace | None
) -> None:
    """`<fip> via <rfp ip> dev fpr-` in fip- (any gateway when qrouter- is not collected)."""
    rfp_ips = (
        [a.ip for a in qr.addresses_of(rfp) if a.interface.network.prefixlen == 31] if qr else []
    )
    via = rfp_ips[0] if rfp_ips else None
    at.route("fip.route", fip.address, via, fpr, unknown_via="<rfp ip>")


def _fip_rule(at: At, fip: FloatingIPExpectation, node: NodeObservation) -> None:
    rules = [
        r
        for r in at.inside.rules_for()
        if r.src in (str(fip.fixed_ip), f"{fip.fixed_ip}/32") and r.table == FIP_RT_TABLE
    ]
    low, high = FIP_PRIORITY_RANGE
    ok = len(rules) == 1 and low <= rules[0].priority <= high
    at.verdict(
        "fip.rule",
        ok,
        expected=f"one rule P: from {fip.fixed_ip} lookup {FIP_RT_TABLE}, P in [{low}, {high}]",
        observed=", ".join(r.text() for r in rules) or "no rule",
        cmd="ip rule",
    )
    if not ok:
        return
    priority = rules[0].priority
    replace(at, ns=None).state_entry(
        "fip.priority_state",
        node.state_path,
        "fip-priorities",
        node.fip_priorities,
        fip.address,
        lambda want: want == priority,
        expected=f"{fip.address},{priority} in fip-priorities",
    )


def _find(rules: tuple[IptRule, ...], target: str, **options: str) -> IptRule | None:
    for rule in rules:
        if rule.target == target and all(rule.opt(k) == v for k, v in options.items()):
            return rule
    return None


def _nat_rules(at: At, fip: FloatingIPExpectation, in_dev: str | None) -> None:
    """DNAT to the fixed IP (arriving on `in_dev` if given) and SNAT from it, in the nat table."""
    if not at.inside.iptables_collected:
        at.not_verified("fip.dnat", "nat table not collected", cmd="iptables-save -t nat")
        return
    opts = {"-d": f"{fip.address}/32", "--to-destination": str(fip.fixed_ip)}
    if in_dev:
        opts["-i"] = in_dev
    dnat = _find(at.inside.iptables_rules("nat", f"{CHAIN}-PREROUTING"), "DNAT", **opts)
    iface = f" -i {in_dev}" if in_dev else ""
    at.iptables_rule(
        "fip.dnat",
        "nat",
        dnat,
        expected=f"{CHAIN}-PREROUTING -d {fip.address}/32{iface} -j DNAT "
        f"--to-destination {fip.fixed_ip}",
        device=in_dev or "",
    )
    snat = _find(
        at.inside.iptables_rules("nat", f"{CHAIN}-float-snat"),
        "SNAT",
        **{"-s": f"{fip.fixed_ip}/32", "--to-source": str(fip.address)},
    )
    at.iptables_rule(
        "fip.snat",
        "nat",
        snat,
        expected=f"{CHAIN}-float-snat -s {fip.fixed_ip}/32 -j SNAT --to-source {fip.address}",
    )


def _centralized(at: At, fip: FloatingIPExpectation, gateway_port: Port | None) -> None:
    """A centralized FIP sits on qg- in snat-, with the same NAT rules."""
    if gateway_port is None:
        at.fail("fip.centralized", expected="router gateway port", observed="none")
        return
    qg = gateway_port.device("qg-")
    have = {a.ip for a in at.inside.addresses_of(qg)}
    at.verdict(
        "fip.centralized",
        fip.address in have,
        expected=f"{fip.address}/32 on {qg}",
        observed=", ".join(map(str, sorted(have))),
        device=qg,
        cmd=f"ip addr show {qg}",
    )
    _nat_rules(at, fip, None)
