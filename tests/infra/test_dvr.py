"""One test per (floating IP, check family); a failure reads like the harness's findings."""

from __future__ import annotations

import pytest

from dvr_verify.checks import DATAPLANE_CHECKS, NODE_CHECKS
from dvr_verify.findings import Finding, Status

FAMILIES = (*NODE_CHECKS, *dict.fromkeys(check.split(".")[0] for check in DATAPLANE_CHECKS))


class DVRCheckFailed(AssertionError):
    """A DVR invariant does not hold for this floating IP."""


def relevant(findings: list[Finding], exp, fip: str) -> list[Finding]:
    """Findings about the FIP itself, its router, or its host's namespaces and flows."""
    target = next(f for f in exp.fips if str(f.address) == fip)
    router = target.router_id or "-"
    host = target.host or "-"
    return [
        f
        for f in findings
        if f.subject == fip
        or router in f.subject
        or f.subject.startswith(host)
        or (f.node == host and f.check.startswith(("dvr_mac", "sysctl")))
    ]


def assert_family(findings: list[Finding], exp, fip: str, family: str) -> None:
    __tracebackhide__ = True
    mine = [f for f in relevant(findings, exp, fip) if f.check.split(".")[0] == family]
    failed = [f for f in mine if f.status is Status.FAIL]
    if failed:
        raise DVRCheckFailed("\n".join(f.line() for f in failed))
    if not mine:
        pytest.skip(f"no {family} verdict for {fip} (not probed in this scope, or not applicable)")
    if all(f.status is Status.NOT_VERIFIED for f in mine):
        pytest.skip("; ".join(f.line() for f in mine))


def test_floating_ip(dvr_case, dvr_findings, dvr_expectations) -> None:
    fip, family = dvr_case
    assert_family(dvr_findings, dvr_expectations, fip, family)


test_floating_ip.families = FAMILIES
