"""One summary row per floating IP (where it lives, who answers for it, its path, its verdict), and
the run's verdict (`run_verdict`: failures, and in strict mode what of its own was not verified)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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


# --- the run's verdict ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RunScope:
    """What a verify run made: its floating IPs, its VMs (`<name> <fixed ip>`, as the data-plane
    checks name a VM without FIP) and its router. A finding is the run's own when its subject is
    one of these, or its subject or namespace names the run's router (`router <id>`,
    `<host> qrouter-<id>`, `<host> fip-<net> router <id>`)."""

    fips: frozenset[str] = frozenset()
    vms: frozenset[str] = frozenset()
    router_id: str = ""

    def owns(self, finding: Finding) -> bool:
        """Whether `finding` is about the run's own resources (not another router's, say)."""
        if finding.subject in self.fips or finding.subject in self.vms:
            return True
        router = self.router_id
        return bool(router) and (router in finding.subject or router in finding.namespace)


@dataclass(frozen=True)
class RunVerdict:
    """Whether a run passes: no failure and, in strict mode, nothing of its own not verified."""

    failures: tuple[Finding, ...]
    unverified: tuple[Finding, ...]
    strict: bool

    @property
    def passed(self) -> bool:
        return not self.failures and not (self.strict and self.unverified)

    @property
    def exit_code(self) -> int:
        """0 when the run passed, else 1."""
        return 0 if self.passed else 1

    def lines(self) -> list[str]:
        """The strict-mode lines of the summary: each unverified finding of the run and why."""
        if not self.strict:
            return []
        if not self.unverified:
            return ["Strict mode: every verdict about this run's own resources was reached"]
        lines = [f"Strict mode: FAILED, {len(self.unverified)} not verified of this run's own"]
        for f in self.unverified:
            where = f" @ {f.node}" if f.node else ""
            lines.append(f"  {f.check} {f.subject}{where}: {f.observed or 'not verified'}")
        return lines


def run_verdict(
    findings: Sequence[Finding], scope: RunScope | None, *, strict: bool = False
) -> RunVerdict:
    """The verdict of a run: any failure fails it; with `strict`, so does any "not verified"
    about its own resources (`scope`; None, an audit: whatever it verified, every finding)."""
    unverified = tuple(
        f for f in findings if f.status is Status.NOT_VERIFIED and (scope is None or scope.owns(f))
    )
    return RunVerdict(tuple(f for f in findings if f.failed), unverified, strict)
