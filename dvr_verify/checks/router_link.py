"""Family 2 (rfp/fpr): the veth pair joining qrouter-<router> and fip-<ext net> on each host.

Source: neutron/agent/l3/dvr_local_router.py (create_dvr_external_gateway_on_agent,
_create_rtr_2_fip_link),
neutron/agent/l3/link_local_allocator.py (169.254.64.0/18 pool, state file fip-linklocal-networks).
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict

from dvr_verify.checks.common import Findings, Nodes, netns_cmd
from dvr_verify.expect import FIP_LINKLOCAL_POOL, FIP_RT_TABLE, Expectations, RouterExpectation
from dvr_verify.findings import Status
from dvr_verify.model import Link, Namespace


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
    rfp, fpr = qr_ns.link(router.rfp), fip_ns.link(router.fpr)
    for ns, name, link in ((qr_ns, router.rfp, rfp), (fip_ns, router.fpr, fpr)):
        fin.verdict(
            "rfp.device",
            link is not None,
            subject,
            expected=f"{name} present",
            observed="present" if link else "missing",
            node=host,
            namespace=ns.name,
            device=name,
            hint=netns_cmd(ns.name, "ip -d link show"),
        )
    if rfp is None or fpr is None:
        return
    paired = (
        rfp.kind in (None, "veth")
        and fpr.kind in (None, "veth")
        and rfp.peer_ifindex == fpr.ifindex
        and fpr.peer_ifindex == rfp.ifindex
    )
    fin.verdict(
        "rfp.veth_pair",
        paired,
        subject,
        expected=f"{router.rfp} and {router.fpr} are the two ends of one veth",
        observed=f"{router.rfp}@if{rfp.peer_ifindex} (index {rfp.ifindex}), "
        f"{router.fpr}@if{fpr.peer_ifindex} (index {fpr.ifindex})",
        node=host,
        namespace=qr_ns.name,
        device=router.rfp,
        hint=netns_cmd(qr_ns.name, f"ip -d link show {router.rfp}"),
    )
    mtu = exp.networks[router.ext_net_id].mtu if router.ext_net_id in exp.networks else None
    if mtu is not None:
        for ns, link in ((qr_ns, rfp), (fip_ns, fpr)):
            fin.verdict(
                "rfp.mtu",
                link.mtu == mtu,
                subject,
                expected=f"mtu {mtu} (external network)",
                observed=f"mtu {link.mtu}",
                node=host,
                namespace=ns.name,
                device=link.name,
                hint=netns_cmd(ns.name, f"ip link show {link.name}"),
            )
    # Before neutron 9.0.0 the agent also put each floating IP as /32 on rfp- (the runbook's cloud).
    legacy = {f.address for f in exp.fips if f.router_id == router.id}
    rfp_ip = _linklocal(fin, qr_ns, rfp, host, subject, even=True, legacy=legacy)
    fpr_ip = _linklocal(fin, fip_ns, fpr, host, subject, even=False, legacy=set())
    if rfp_ip is None or fpr_ip is None:
        return
    same = (
        ipaddress.ip_interface(f"{rfp_ip}/31").network
        == ipaddress.ip_interface(f"{fpr_ip}/31").network
    )
    fin.verdict(
        "rfp.same_31",
        same,
        subject,
        expected="rfp and fpr in one /31",
        observed=f"{rfp_ip}, {fpr_ip}",
        node=host,
        namespace=qr_ns.name,
        device=router.rfp,
        hint=netns_cmd(qr_ns.name, f"ip addr show {router.rfp}"),
    )
    fin.permanent_neighbour(
        "rfp.neighbour", subject, qr_ns, host, router.rfp, fpr_ip, fpr.mac or ""
    )
    fin.permanent_neighbour(
        "rfp.neighbour", subject, fip_ns, host, router.fpr, rfp_ip, rfp.mac or ""
    )
    routes = qr_ns.routes_in(FIP_RT_TABLE)
    ok = any(r.is_default and r.gateway == fpr_ip and r.dev == router.rfp for r in routes)
    fin.verdict(
        "rfp.table16",
        ok,
        subject,
        expected=f"default via {fpr_ip} dev {router.rfp} table {FIP_RT_TABLE}",
        observed=", ".join(r.text() for r in routes) or "table 16 empty",
        node=host,
        namespace=qr_ns.name,
        device=router.rfp,
        hint=netns_cmd(qr_ns.name, f"ip route show table {FIP_RT_TABLE}"),
    )
    main_defaults = [r.text() for r in qr_ns.routes_in("main") if r.is_default]
    fin.verdict(
        "rfp.no_main_default",
        not main_defaults,
        subject,
        expected="no IPv4 default route in qrouter main table",
        observed=", ".join(main_defaults) or "none",
        node=host,
        namespace=qr_ns.name,
        hint=netns_cmd(qr_ns.name, "ip route"),
    )
    _state_file(fin, nodes, host, router, rfp_ip, subject)


def _linklocal(
    fin: Findings, ns: Namespace, link: Link, host: str, subject: str, *, even: bool, legacy: set
) -> ipaddress.IPv4Address | None:
    addrs = ns.addresses_of(link.name)
    pairs = [a for a in addrs if a.interface.network.prefixlen == 31]
    extra = [
        a
        for a in addrs
        if a not in pairs and not (a.ip in legacy and a.interface.network.prefixlen == 32)
    ]
    hint = netns_cmd(ns.name, f"ip addr show {link.name}")
    want = "even" if even else "odd"
    ok = (
        len(pairs) == 1
        and pairs[0].ip in FIP_LINKLOCAL_POOL
        and (int(pairs[0].ip) % 2 == 0) == even
        and not extra
    )
    fin.verdict(
        "rfp.address",
        ok,
        subject,
        expected=f"only one {want} 169.254.64.0/18 /31 address",
        observed=", ".join(str(a.interface) for a in addrs) or "none",
        node=host,
        namespace=ns.name,
        device=link.name,
        hint=hint,
    )
    if len(pairs) != 1:
        return None
    return pairs[0].ip  # type: ignore[return-value]


def _state_file(
    fin: Findings, nodes: Nodes, host: str, router: RouterExpectation, rfp_ip, subject: str
) -> None:
    node = nodes[host]
    hint = "cat /var/lib/neutron/fip-linklocal-networks"
    if node.fip_linklocal is None:
        fin.not_verified(
            "rfp.state_file", subject, "fip-linklocal-networks not readable", node=host, hint=hint
        )
        return
    cidr = node.fip_linklocal.get(router.id)
    ok = cidr is not None and rfp_ip in cidr
    fin.verdict(
        "rfp.state_file",
        ok,
        subject,
        expected=f"{router.id},{rfp_ip}/31",
        observed=f"{router.id},{cidr}" if cidr else "no entry for the router",
        node=host,
        hint=hint,
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
