"""One summary row per floating IP: where it lives, who answers for it, its path, its verdict."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dvr_verify.checks.common import Nodes
from dvr_verify.expect import Expectations
from dvr_verify.findings import Finding, Status
from dvr_verify.probes import ProbeResults

_RANK = {Status.FAIL: 3, Status.WARN: 2, Status.NOT_VERIFIED: 1, Status.PASS: 0}


def _pair(exp: Expectations, nodes: Nodes, host: str | None, router_id: str | None) -> str:
    router = exp.routers.get(router_id or "")
    node = nodes.get(host or "")
    if router is None or node is None:
        return ""
    parts = []
    for ns_name, dev in ((router.qrouter_ns, router.rfp), (router.fip_ns or "", router.fpr)):
        ns = node.ns(ns_name)
        addrs = ns.addresses_of(dev) if ns else ()
        parts.append(f"{dev} {addrs[0].interface if addrs else '?'}")
    return " <-> ".join(parts)


def fip_rows(
    exp: Expectations,
    nodes: Nodes,
    findings: Sequence[Finding],
    probes: ProbeResults | None = None,
    vm_names: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Rows for `report.render_text` (keys: `report.SUMMARY_KEYS`)."""
    rows = []
    for fip in exp.fips:
        subject = str(fip.address)
        mine = [f for f in findings if f.subject == subject]
        worst = max((f.status for f in mine), key=_RANK.__getitem__, default=Status.NOT_VERIFIED)
        arp = next((p for p in probes.arp if p.target == fip.address), None) if probes else None
        trace = (
            next((t for t in probes.traceroutes if t.source_ip == fip.fixed_ip), None)
            if probes
            else None
        )
        rows.append(
            {
                "fip": subject,
                "vm": (vm_names or {}).get(fip.port.id if fip.port else "", str(fip.fixed_ip)),
                "host": fip.host or f"({fip.placement.value})",
                "fg_mac": fip.fg_port.mac if fip.fg_port else None,
                "arp_responders": sorted(arp.macs) if arp else None,
                "rfp_fpr": _pair(exp, nodes, fip.host, fip.router_id) or None,
                "hops": [str(a) if a else None for a in trace.addresses] if trace else None,
                "verdict": worst.value,
            }
        )
    return rows
