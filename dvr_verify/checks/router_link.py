"""Family 2 (rfp/fpr): the veth pair joining qrouter-<router> and fip-<ext net> on each host.

Source: neutron/agent/l3/dvr_local_router.py (create_dvr_external_gateway_on_agent,
_create_rtr_2_fip_link),
neutron/agent/l3/link_local_allocator.py (169.254.64.0/18 pool, state file fip-linklocal-networks).
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict

from dvr_verify.checks.common import At, Findings, Nodes
from dvr_verify.expect import FIP_LINKLOCAL_POOL, FIP_RT_TABLE, Expectations, RouterExpectation
from dvr_verify.findings import Status
from dvr_verify.model import Link, NodeObservation


def check_router_links(exp: Expectations, nodes: Nodes) -> list:
    """rfp-/fpr- pair, /31 addresses, MTU, permanent neighbours, table 16, agent state file."""
    fin = Findings()
    for router in exp.routers.values():
        if not router.ext_net_id:
            continue
        for host in sorted(router.hosts):
            agent = exp.l3_agents.get(host)
            if agent is not None and agent.agent_mode == "dvr_no_external":
                continue
            if exp.fg_port(router.ext_net_id, host) is None:
                continue  # no fg port: no rfp link (reported by the fg family)
            _check_pair(fin, exp, nodes, router, host)
    _check_unique_pairs(fin, nodes)
    return fin.items


def _check_pair(
    fin: Findings, exp: Expectations, nodes: Nodes, router: RouterExpectation, host: str
) -> None:
    subject = f"router {router.id}"
    qr_ns = fin.namespace(nodes, host, router.qrouter_ns, "rfp.namespace", subject)
    fip_ns = fin.namespace(nodes, host, router.fip_ns or "", "rfp.namespace", subject)
    if qr_ns is None or fip_ns is None:
        return
    qr, fip = fin.at(host, qr_ns, subject), fin.at(host, fip_ns, subject)
    pair = _veth(qr, fip, router)
    if pair is None:
        return
    rfp, fpr = pair
    mtu = exp.networks[router.ext_net_id].mtu if router.ext_net_id in exp.networks else None
    if mtu is not None:
        for at, link in ((qr, rfp), (fip, fpr)):
            at.verdict(
                "rfp.mtu",
                link.mtu == mtu,
                expected=f"mtu {mtu} (external network)",
                observed=f"mtu {link.mtu}",
                device=link.name,
                cmd=f"ip link show {link.name}",
            )
    # Before neutron 9.0.0 the agent also put each floating IP as /32 on rfp- (the runbook's cloud).
    legacy = {f.address for f in exp.fips if f.router_id == router.id}
    ips = _linklocal_pair(qr, fip, rfp, fpr, legacy)
    if ips is None:
        return
    rfp_ip, fpr_ip = ips
    qr.permanent_neighbour("rfp.neighbour", router.rfp, fpr_ip, fpr.mac or "")
    fip.permanent_neighbour("rfp.neighbour", router.fpr, rfp_ip, rfp.mac or "")
    qr.route(
        "rfp.table16",
        "default",
        fpr_ip,
        router.rfp,
        table=FIP_RT_TABLE,
        empty=f"table {FIP_RT_TABLE} empty",
    )
    main_defaults = [r.text() for r in qr_ns.routes_in("main") if r.is_default]
    qr.absent(
        "rfp.no_main_default",
        main_defaults,
        expected="no IPv4 default route in qrouter main table",
        cmd="ip route",
    )
    _state_file(fin.at(host, None, subject), nodes[host], router, rfp_ip)


def _veth(qr: At, fip: At, router: RouterExpectation) -> tuple[Link, Link] | None:
    """rfp- in qrouter-, fpr- in fip-, and the two are one veth; None when one is missing."""
    rfp, fpr = qr.inside.link(router.rfp), fip.inside.link(router.fpr)
    for at, name, link in ((qr, router.rfp, rfp), (fip, router.fpr, fpr)):
        at.verdict(
            "rfp.device",
            link is not None,
            expected=f"{name} present",
            observed="present" if link else "missing",
            device=name,
            cmd="ip -d link show",
        )
    if rfp is None or fpr is None:
        return None
    paired = (
        rfp.kind in (None, "veth")
        and fpr.kind in (None, "veth")
        and rfp.peer_ifindex == fpr.ifindex
        and fpr.peer_ifindex == rfp.ifindex
    )
    qr.verdict(
        "rfp.veth_pair",
        paired,
        expected=f"{router.rfp} and {router.fpr} are the two ends of one veth",
        observed=f"{router.rfp}@if{rfp.peer_ifindex} (index {rfp.ifindex}), "
        f"{router.fpr}@if{fpr.peer_ifindex} (index {fpr.ifindex})",
        device=router.rfp,
        cmd=f"ip -d link show {router.rfp}",
    )
    return rfp, fpr


def _linklocal_pair(
    qr: At, fip: At, rfp: Link, fpr: Link, legacy: set
) -> tuple[ipaddress.IPv4Address, ipaddress.IPv4Address] | None:
    """The even rfp- and odd fpr- link-local addresses, in one /31; None when one is unclear."""
    rfp_ip = _linklocal(qr, rfp, even=True, legacy=legacy)
    fpr_ip = _linklocal(fip, fpr, even=False, legacy=set())
    if rfp_ip is None or fpr_ip is None:
        return None
    same = (
        ipaddress.ip_interface(f"{rfp_ip}/31").network
        == ipaddress.ip_interface(f"{fpr_ip}/31").network
    )
    qr.verdict(
        "rfp.same_31",
        same,
        expected="rfp and fpr in one /31",
        observed=f"{rfp_ip}, {fpr_ip}",
        device=rfp.name,
        cmd=f"ip addr show {rfp.name}",
    )
    return rfp_ip, fpr_ip


def _linklocal(at: At, link: Link, *, even: bool, legacy: set) -> ipaddress.IPv4Address | None:
    addrs = at.inside.addresses_of(link.name)
    pairs = [a for a in addrs if a.interface.network.prefixlen == 31]
    extra = [
        a
        for a in addrs
        if a not in pairs and not (a.ip in legacy and a.interface.network.prefixlen == 32)
    ]
    want = "even" if even else "odd"
    ok = (
        len(pairs) == 1
        and pairs[0].ip in FIP_LINKLOCAL_POOL
        and (int(pairs[0].ip) % 2 == 0) == even
        and not extra
    )
    at.verdict(
        "rfp.address",
        ok,
        expected=f"only one {want} 169.254.64.0/18 /31 address",
        observed=", ".join(str(a.interface) for a in addrs) or "none",
        device=link.name,
        cmd=f"ip addr show {link.name}",
    )
    if len(pairs) != 1:
        return None
    return pairs[0].ip  # type: ignore[return-value]


def _state_file(at: At, node: NodeObservation, router: RouterExpectation, rfp_ip) -> None:
    at.state_entry(
        "rfp.state_file",
        node.state_path,
        "fip-linklocal-networks",
        node.fip_linklocal,
        router.id,
        lambda cidr: cidr is not None and rfp_ip in cidr,
        expected=f"{router.id},{rfp_ip}/31",
        missing="no entry for the router",
    )


def _check_unique_pairs(fin: Findings, nodes: Nodes) -> None:
    """No two routers on one host may share a link-local /31."""
    for host, node in sorted(nodes.items()):
        owners: dict[str, list[str]] = defaultdict(list)
        for ns in node.namespaces.values():
            if ns.kind != "qrouter" or not ns.ok:
                continue
            for link in ns.links_with_prefix("rfp-"):
                for addr in ns.addresses_of(link.name):
                    if addr.interface.network.prefixlen == 31:
                        owners[str(addr.interface.network)].append(ns.name)
        for cidr, names in sorted(owners.items()):
            fin.verdict(
                "rfp.unique_31",
                len(names) == 1,
                host,
                expected=f"{cidr} used by one router",
                observed=", ".join(names),
                node=host,
                device="rfp-",
                fail=Status.FAIL,
                hint="ip netns | grep qrouter",
            )
