"""Family 3: one floating IP's plumbing on the host of its port (or in snat- when centralized).

Source: neutron/agent/l3/dvr_local_router.py (floating_ip_added_dist, floating_forward_rules),
neutron/agent/l3/dvr_fip_ns.py (fip-priorities), neutron/agent/l3/dvr_edge_router.py.
"""

from __future__ import annotations

from dvr_verify.checks.common import Findings, Nodes, netns_cmd
from dvr_verify.expect import (
    FIP_PRIORITY_RANGE,
    FIP_RT_TABLE,
    Expectations,
    FloatingIPExpectation,
    Placement,
)
from dvr_verify.findings import Status
from dvr_verify.model import IptRule, Namespace

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
                    _centralized(fin, ns, host, fip, router.gateway_port)
            continue
        host = fip.host or ""
        qr = fin.namespace(nodes, host, router.qrouter_ns, "fip.namespace", subject)
        fns = fin.namespace(nodes, host, router.fip_ns or "", "fip.namespace", subject)
        if fns is not None:
            _fip_route(fin, fns, host, fip, router.fpr, router.rfp, qr)
        if qr is not None:
            _fip_rule(fin, qr, host, fip, nodes[host].fip_priorities)
            _nat_rules(fin, qr, host, fip, router.rfp)
    return fin.items


def _fip_route(
    fin: Findings,
    fns: Namespace,
    host: str,
    fip: FloatingIPExpectation,
    fpr: str,
    rfp: str,
    qr: Namespace | None,
) -> None:
    rfp_ips = (
        [a.ip for a in qr.addresses_of(rfp) if a.interface.network.prefixlen == 31] if qr else []
    )
    via = rfp_ips[0] if rfp_ips else None
    routes = [r for r in fns.routes_in("main") if r.dst in (str(fip.address), f"{fip.address}/32")]
    ok = any(r.dev == fpr and (via is None or r.gateway == via) for r in routes)
    fin.verdict(
        "fip.route",
        ok,
        fip.subject,
        expected=f"{fip.address} via {via or '<rfp ip>'} dev {fpr}",
        observed=", ".join(r.text() for r in routes) or "no route",
        node=host,
        namespace=fns.name,
        device=fpr,
        hint=netns_cmd(fns.name, "ip route"),
    )


def _fip_rule(
    fin: Findings, qr: Namespace, host: str, fip: FloatingIPExpectation, priorities
) -> None:
    rules = [
        r
        for r in qr.rules_for()
        if r.src in (str(fip.fixed_ip), f"{fip.fixed_ip}/32") and r.table == FIP_RT_TABLE
    ]
    low, high = FIP_PRIORITY_RANGE
    hint = netns_cmd(qr.name, "ip rule")
    ok = len(rules) == 1 and low <= rules[0].priority <= high
    fin.verdict(
        "fip.rule",
        ok,
        fip.subject,
        expected=f"one rule P: from {fip.fixed_ip} lookup {FIP_RT_TABLE}, P in [{low}, {high}]",
        observed=", ".join(r.text() for r in rules) or "no rule",
        node=host,
        namespace=qr.name,
        hint=hint,
    )
    if not ok:
        return
    if priorities is None:
        fin.not_verified(
            "fip.priority_state",
            fip.subject,
            "fip-priorities not readable",
            node=host,
            hint="cat /var/lib/neutron/fip-priorities",
        )
        return
    want = priorities.get(fip.address)
    fin.verdict(
        "fip.priority_state",
        want == rules[0].priority,
        fip.subject,
        expected=f"{fip.address},{rules[0].priority} in fip-priorities",
        observed=f"{fip.address},{want}" if want else "no entry",
        node=host,
        hint="cat /var/lib/neutron/fip-priorities",
    )


def _find(rules: tuple[IptRule, ...], target: str, **options: str) -> IptRule | None:
    for rule in rules:
        if rule.target == target and all(rule.opt(k) == v for k, v in options.items()):
            return rule
    return None


def _nat_rules(
    fin: Findings, ns: Namespace, host: str, fip: FloatingIPExpectation, in_dev: str | None
) -> None:
    hint = netns_cmd(ns.name, "iptables-save -t nat")
    if not ns.iptables_collected:
        fin.not_verified(
            "fip.dnat",
            fip.subject,
            "nat table not collected",
            node=host,
            namespace=ns.name,
            hint=hint,
        )
        return
    opts = {"-d": f"{fip.address}/32", "--to-destination": str(fip.fixed_ip)}
    if in_dev:
        opts["-i"] = in_dev
    dnat = _find(ns.iptables_rules("nat", f"{CHAIN}-PREROUTING"), "DNAT", **opts)
    iface = f" -i {in_dev}" if in_dev else ""
    fin.verdict(
        "fip.dnat",
        dnat is not None,
        fip.subject,
        expected=f"{CHAIN}-PREROUTING -d {fip.address}/32{iface} -j DNAT "
        f"--to-destination {fip.fixed_ip}",
        observed=dnat.raw if dnat else "no such rule",
        node=host,
        namespace=ns.name,
        device=in_dev or "",
        hint=hint,
    )
    snat = _find(
        ns.iptables_rules("nat", f"{CHAIN}-float-snat"),
        "SNAT",
        **{"-s": f"{fip.fixed_ip}/32", "--to-source": str(fip.address)},
    )
    fin.verdict(
        "fip.snat",
        snat is not None,
        fip.subject,
        expected=f"{CHAIN}-float-snat -s {fip.fixed_ip}/32 -j SNAT --to-source {fip.address}",
        observed=snat.raw if snat else "no such rule",
        node=host,
        namespace=ns.name,
        hint=hint,
    )


def _centralized(
    fin: Findings, ns: Namespace, host: str, fip: FloatingIPExpectation, gateway_port
) -> None:
    if gateway_port is None:
        fin.add(
            "fip.centralized",
            Status.FAIL,
            fip.subject,
            node=host,
            namespace=ns.name,
            expected="router gateway port",
            observed="none",
        )
        return
    qg = gateway_port.device("qg-")
    have = {a.ip for a in ns.addresses_of(qg)}
    fin.verdict(
        "fip.centralized",
        fip.address in have,
        fip.subject,
        expected=f"{fip.address}/32 on {qg}",
        observed=", ".join(map(str, sorted(have))),
        node=host,
        namespace=ns.name,
        device=qg,
        hint=netns_cmd(ns.name, f"ip addr show {qg}"),
    )
    _nat_rules(fin, ns, host, fip, None)
