"""Check families: pure functions (expectations x observations [x probes]) -> findings."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from dvr_verify.checks.dataplane import DATAPLANE_CHECKS
from dvr_verify.checks.dvr_mac import check_dvr_macs
from dvr_verify.checks.fip_namespace import check_fip_namespaces, fg_ports_in_use
from dvr_verify.checks.floating_ip import check_floating_ips
from dvr_verify.checks.placement import check_placement, check_sysctls
from dvr_verify.checks.router_link import check_router_links
from dvr_verify.checks.router_ports import check_qr_ports, check_snat_path
from dvr_verify.expect import Expectations
from dvr_verify.findings import Finding
from dvr_verify.model import NodeObservation

__all__ = ["DATAPLANE_CHECKS", "NODE_CHECKS", "NodeCheck", "fg_ports_in_use", "run_node_checks"]

NodeCheck = Callable[[Expectations, Mapping[str, NodeObservation]], list[Finding]]

NODE_CHECKS: dict[str, NodeCheck] = {
    "fg": check_fip_namespaces,
    "rfp": check_router_links,
    "fip": check_floating_ips,
    "qr": check_qr_ports,
    "snat": check_snat_path,
    "placement": check_placement,
    "sysctl": check_sysctls,
    "dvr_mac": check_dvr_macs,
}


def run_node_checks(exp: Expectations, nodes: Mapping[str, NodeObservation]) -> list[Finding]:
    """Every node-state check family, in a stable order."""
    exp = fg_ports_in_use(exp, nodes)
    findings: list[Finding] = []
    for check in NODE_CHECKS.values():
        findings.extend(check(exp, nodes))
    return findings
