"""Family 8: data-plane verdicts from probes (ARP, egress capture, reachability, traceroute).

Expected behaviour (dvr-invariants D, confirmed on the lab capture): the FIP resolves upstream
to the fg- MAC of its VM's host (kernel proxy ARP), frames leave with the FIP and that MAC; a VM
without a FIP leaves with the router gateway IP and the SNAT host's qg- MAC; traceroute goes
qr gateway -> fpr address -> external gateway (FIP) or qr gateway -> sg- address -> external
gateway (no FIP).
"""

from __future__ import annotations

from collections.abc import Mapping

from dvr_verify.checks.common import Findings, Nodes
from dvr_verify.expect import (
    Expectations,
    FixedIP,
    FloatingIPExpectation,
    Placement,
    Port,
    RouterExpectation,
)
from dvr_verify.findings import Finding, Status
from dvr_verify.model import IPAddress
from dvr_verify.probes import (
    REACH_KINDS,
    ArpProbe,
    EgressCapture,
    ProbeResults,
    Reachability,
    Traceroute,
)

# Every check id a data-plane verdict can carry; reach.<kind> for each reachability kind.
DATAPLANE_CHECKS: tuple[str, ...] = (
    "arp.responder",
    "egress.source",
    *(f"reach.{kind}" for kind in sorted(REACH_KINDS)),
    "trace.path",
)


def _fip_by_address(exp: Expectations) -> Mapping[IPAddress, FloatingIPExpectation]:
    return {f.address: f for f in exp.fips}


def _router_of(
    fin: Findings, check: str, subject: str, exp: Expectations, ip: IPAddress, router_id: str | None
) -> tuple[RouterExpectation, FixedIP] | None:
    """The router a VM (address `ip`) is behind and its qr port's address in the VM's subnet (a
    qr port may carry an IPv6 subnet's address too, in any order): router `router_id` when known,
    else the router whose subnet holds `ip`. Tenant subnets of different routers overlap (other
    projects, another run at the same time): with several, a 'not verified' of `check` naming
    them, and None; with none, None (not a VM of these routers)."""
    known = exp.routers.get(router_id or "")
    found = [
        (router, fixed)
        for router in ([known] if known else exp.routers.values())
        for port in router.interface_ports
        for fixed in port.fixed_ips
        if (subnet := exp.subnets.get(fixed.subnet_id)) is not None and ip in subnet.cidr
    ]
    if len(found) > 1:
        ids = ", ".join(sorted(router.id for router, _ in found))
        fin.not_verified(
            check, subject, f"its address is in subnets of {len(found)} routers: {ids}"
        )
        return None
    return found[0] if found else None


def expected_arp_mac(exp: Expectations, fip: FloatingIPExpectation) -> str | None:
    """The one MAC that must answer ARP for the FIP upstream."""
    if fip.placement is Placement.DISTRIBUTED:
        return fip.fg_port.mac if fip.fg_port else None
    router = exp.routers.get(fip.router_id or "")
    if fip.placement is Placement.CENTRALIZED and router and router.gateway_port:
        return router.gateway_port.mac
    return None


def _arp(
    fin: Findings,
    exp: Expectations,
    probe: ArpProbe,
    by_address: Mapping[IPAddress, FloatingIPExpectation],
) -> None:
    fip = by_address.get(probe.target)
    subject = str(probe.target)
    hint = f"arping -I {probe.interface or '<external interface>'} -c 2 {probe.target}"
    if fip is None:
        return
    want = expected_arp_mac(exp, fip)
    if want is None:
        fin.not_verified(
            "arp.responder", subject, f"no expected responder ({fip.placement})", hint=hint
        )
        return
    who = f"fg- of {fip.host}" if fip.placement is Placement.DISTRIBUTED else "qg- of the SNAT host"
    fin.verdict(
        "arp.responder",
        probe.macs == {want},
        subject,
        expected=f"only {want} ({who})",
        observed=", ".join(sorted(probe.macs)) or f"no reply to {probe.sent} requests",
        node=fip.host or "",
        hint=hint,
    )


def _egress(
    fin: Findings,
    exp: Expectations,
    capture: EgressCapture,
    by_address: Mapping[IPAddress, FloatingIPExpectation],
    router_id: str | None,
) -> None:
    hint = "tcpdump -e -n -i <external interface> icmp  (on the probe host, while the VM pings it)"
    if capture.fip is not None:
        fip = by_address.get(capture.fip)
        if fip is None:
            return
        subject, src_ip, want = str(fip.address), fip.address, expected_arp_mac(exp, fip)
        who = "the FIP and the fg- MAC of the VM's host"
    else:
        subject = f"{capture.vm} {capture.fixed_ip}"
        found = _router_of(fin, "egress.source", subject, exp, capture.fixed_ip, router_id)
        gw = found[0].gateway_port if found else None
        if gw is None or not gw.ips():
            return  # no IPv4 gateway address to SNAT to
        src_ip, want = gw.ips()[0], gw.mac
        who = "the router gateway IP and the SNAT host's qg- MAC"
    leaked = [f for f in capture.frames if f.src_ip == capture.fixed_ip]
    seen = sorted({f"{f.src_ip} {f.src_mac}" for f in capture.frames})
    macs = capture.macs_from(src_ip)
    ok = bool(macs) and macs == {want} and not leaked
    fin.verdict(
        "egress.source",
        ok,
        subject,
        expected=f"{src_ip} from {want} ({who})",
        observed=", ".join(seen) or "no frame reached the capture host",
        hint=hint,
    )


def _reachability(
    fin: Findings, probe: Reachability, by_address: Mapping[IPAddress, FloatingIPExpectation]
) -> None:
    if probe.target not in by_address:
        return
    port = f":{probe.port}" if probe.port else ""
    fin.verdict(
        f"reach.{probe.kind}",
        probe.answered,
        str(probe.target),
        expected=f"{probe.kind}{port} answered",
        observed=f"{probe.received}/{probe.sent} answered",
        hint=f"ping -c 3 {probe.target}"
        if probe.kind != "tcp"
        else f"nc -zv -w 3 {probe.target} {probe.port}",
    )


def _fpr_address(nodes: Nodes | None, host: str, router: RouterExpectation) -> IPAddress | None:
    node = nodes.get(host) if nodes else None
    ns = node.ns(router.fip_ns or "") if node else None
    if ns is None:
        return None
    addrs = ns.addresses_of(router.fpr)
    return addrs[0].ip if addrs else None


def _address_on(port: Port, subnet_id: str) -> IPAddress | None:
    return next((f.address for f in port.fixed_ips if f.subnet_id == subnet_id), None)


def _traceroute(
    fin: Findings,
    exp: Expectations,
    trace: Traceroute,
    nodes: Nodes | None,
    router_id: str | None,
) -> None:
    vm = f"{trace.vm} {trace.source_ip}"
    found = _router_of(fin, "trace.path", vm, exp, trace.source_ip, router_id)
    if found is None:
        return
    router, qr_fixed = found
    qr_ip = qr_fixed.address
    fips = (f for f in exp.fips if f.fixed_ip == trace.source_ip and f.router_id == router.id)
    fip = next(fips, None)
    ext_gw = exp.ext_gateway(router.ext_net_id or "")
    subject = str(fip.address) if fip else vm
    hint = f"traceroute -n {trace.destination}  (inside {trace.vm})"
    if fip is not None and fip.placement is Placement.DISTRIBUTED:
        middle = _fpr_address(nodes, fip.host or "", router)
        label = f"fpr address on {fip.host}"
        if middle is None:
            fin.not_verified(
                "trace.path", subject, f"{label} unknown (fip- not collected)", hint=hint
            )
            return
    else:
        sg = router.snat_port_on(qr_fixed.subnet_id)
        middle = _address_on(sg, qr_fixed.subnet_id) if sg else None
        label = "sg- address"
    want = (qr_ip, middle, ext_gw)
    got = trace.addresses[:3]
    shown = " -> ".join(str(a) if a else "*" for a in trace.addresses) or "no hop answered"
    fin.verdict(
        "trace.path",
        tuple(got) == want,
        subject,
        expected=f"{qr_ip} (qr gateway) -> {middle} ({label}) -> {ext_gw} (external gateway)",
        observed=shown,
        node=fip.host if fip and fip.host else "",
        hint=hint,
    )


def check_dataplane(
    exp: Expectations,
    probes: ProbeResults,
    nodes: Nodes | None = None,
    router_id: str | None = None,
) -> list[Finding]:
    """Verdicts for every probe result that concerns a floating IP or VM of the expectations.
    `router_id`: the router the probed VMs are behind (a run's); None: whichever router's subnet
    holds a VM's address, and a VM whose address is in several routers' is not verified."""
    fin = Findings()
    by_address = _fip_by_address(exp)
    for probe in probes.arp:
        _arp(fin, exp, probe, by_address)
    for capture in probes.egress:
        _egress(fin, exp, capture, by_address, router_id)
    for reach in probes.reachability:
        _reachability(fin, reach, by_address)
    for trace in probes.traceroutes:
        _traceroute(fin, exp, trace, nodes, router_id)
    probed = {p.target for p in probes.arp}
    for fip in exp.fips:
        if probes.arp and fip.address not in probed and fip.placement is not Placement.UNPLUMBED:
            fin.add("arp.responder", Status.NOT_VERIFIED, str(fip.address), observed="not probed")
    return fin.items
