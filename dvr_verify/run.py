"""The one pipeline: a run directory (or an API snapshot, node states and probes) -> findings.

Every entry point goes through `verify` (or `verify_run_dir`): `dvr-verify check` (and so every
playbook), the testinfra suite, the benchmarks. A run directory holds

    api/            the API snapshot (`dvr-verify snapshot`)
    nodes/          <neutron host>.json, one dvr_collect result per node
    probes/         probe module outputs (see assemble.py); absent for an audit
    resources.json  what the run made (`Provisioned`); absent for an audit: every FIP is checked
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dvr_verify.assemble import (
    RunResources,
    RunVM,
    TraceFailure,
    assemble,
    run_vms,
    trace_failures,
    unreached_vms,
)
from dvr_verify.checks import fg_ports_in_use, run_node_checks
from dvr_verify.checks.dataplane import check_dataplane
from dvr_verify.expect import Expectations, build_expectations, load_snapshot
from dvr_verify.findings import Finding, Status
from dvr_verify.model import CollectorSchemaError, NodeObservation, parse_node
from dvr_verify.probes import ProbeResults
from dvr_verify.provision import Provisioned
from dvr_verify.summary import RunScope, fip_rows

API, NODES, PROBES, RESOURCES = "api", "nodes", "probes", "resources.json"


class RunInputError(Exception):
    """A run's input is missing or malformed: one line naming the file."""


@dataclass(frozen=True)
class Verification:
    """What one verification found, and the per-FIP summary rows of its report."""

    expectations: Expectations
    nodes: Mapping[str, NodeObservation]
    findings: list[Finding]
    probes: ProbeResults | None
    rows: list[dict[str, Any]]
    scope: RunScope | None = None


def load_nodes(directory: Path) -> dict[str, NodeObservation]:
    """`<neutron host>.json` collector results, keyed by Neutron host."""
    files = sorted(directory.glob("*.json"))
    if not files:
        raise RunInputError(f"{directory}: no <host>.json collector results (run the collect play)")
    nodes = {}
    for path in files:
        try:
            nodes[path.stem] = parse_node(json.loads(path.read_text()), host=path.stem)
        except (json.JSONDecodeError, CollectorSchemaError, KeyError) as exc:
            raise RunInputError(f"{path}: not a dvr_collect result ({exc})") from exc
    return nodes


def load_resources(path: Path) -> Provisioned | None:
    """A run's resources.json, or None where there is none (an audit)."""
    if not path.exists():
        return None
    try:
        return Provisioned.from_dict(json.loads(path.read_text()))
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise RunInputError(f"{path}: not a run's resources ({exc})") from exc


def run_fips(resources: Provisioned) -> list[str]:
    """The floating IPs the run made: its VMs' and those on unbound ports."""
    return [vm.fip for vm in resources.vms if vm.fip] + [u.fip for u in resources.unbound]


def run_scope(resources: Provisioned | None) -> RunScope | None:
    """What the run made, whose "not verified" fail it in strict mode; None for an audit."""
    if resources is None:
        return None
    return RunScope(
        fips=frozenset(run_fips(resources)),
        vms=frozenset(f"{vm.name} {vm.ip}" for vm in resources.vms),
        router_id=resources.router_id,
    )


def vm_names(resources: Provisioned | None) -> dict[str, str]:
    """Port id -> the name the report gives its floating IP's VM."""
    if resources is None:
        return {}
    names = {vm.port_id: vm.name for vm in resources.vms}
    names.update({u.port_id: "(unbound port)" for u in resources.unbound})
    return names


def gateway_ip(exp: Expectations, resources: Provisioned | None) -> str | None:
    """The run's router's external gateway IP (the source of a VM without FIP, upstream)."""
    router = exp.routers.get(resources.router_id if resources else "")
    ips = router.gateway_port.ips() if router and router.gateway_port else ()
    return str(ips[0]) if ips else None


def _vm_not_verified(vm: RunVM, check: str, observed: str, hint: str) -> Finding:
    """'Not verified' of an in-VM probe, named as the data-plane checks name the VM: its FIP, or
    the VM and its fixed IP."""
    subject = vm.fip or f"{vm.name} {vm.ip}"
    return Finding(check, Status.NOT_VERIFIED, subject, observed=observed, hint=hint)


def unreached_findings(resources: RunResources, names: Sequence[str]) -> list[Finding]:
    """'Not verified' for the in-VM probes of VMs SSH did not reach."""
    out = []
    for vm in (vm for vm in run_vms(resources) if vm.name in names):
        observed = f"no SSH into VM {vm.name}: its probe did not run"
        hint = f"ssh -F <run dir>/ssh_config {vm.name}"
        out += [_vm_not_verified(vm, c, observed, hint) for c in ("egress.source", "trace.path")]
    return out


def trace_failure_findings(
    resources: RunResources, failures: Sequence[TraceFailure]
) -> list[Finding]:
    """'Not verified', with the reason, for each VM traceroute that gave no verdict (no such
    command, a sudo prompt, SSH dropped): that VM only, the others are judged."""
    by_name = {vm.name: vm for vm in run_vms(resources)}
    out = []
    for failure in failures:
        vm, dest = by_name[failure.vm], failure.destination
        to = f" to {dest}" if dest else ""
        observed = f"traceroute from {vm.name}{to}: {failure.reason}"
        hint = f"traceroute -n {dest or '<destination>'}  (inside {vm.name})"
        out.append(_vm_not_verified(vm, "trace.path", observed, hint))
    return out


def _probe_findings(
    exp: Expectations,
    nodes: Mapping[str, NodeObservation],
    resources: Provisioned | None,
    probe_dir: Path | None,
    probes: ProbeResults | None,
) -> tuple[ProbeResults | None, list[Finding]]:
    if probes is None and probe_dir is not None:
        try:
            probes = assemble(probe_dir, resources or {}, gateway_ip(exp, resources))
        except ValueError as exc:
            raise RunInputError(f"{probe_dir}: {exc}") from exc
    router_id = resources.router_id if resources else None
    findings = check_dataplane(exp, probes, nodes, router_id) if probes is not None else []
    if probe_dir is not None and resources is not None:
        findings += unreached_findings(resources, unreached_vms(probe_dir))
        findings += trace_failure_findings(resources, trace_failures(probe_dir, resources))
    return probes, findings


@dataclass(frozen=True)
class RunInputs:
    """What a verification reads: the API snapshot, and for a verify run its resources (whose
    FIPs it checks) and probes (given, or module outputs in `probe_dir`)."""

    snapshot: Mapping[str, Any]
    resources: Provisioned | None = None
    probe_dir: Path | None = None
    probes: ProbeResults | None = None
    fip_filter: Sequence[str] | None = None

    @classmethod
    def from_run_dir(cls, run_dir: Path) -> RunInputs:
        """A verify run's own FIPs and probes, or (no resources.json: an audit) every FIP."""
        resources = load_resources(run_dir / RESOURCES)
        probe_dir = run_dir / PROBES
        return cls(
            load_snapshot(run_dir / API),
            resources,
            probe_dir if probe_dir.is_dir() and resources is not None else None,
            fip_filter=run_fips(resources) if resources else None,
        )

    def expectations(self) -> Expectations:
        return build_expectations(self.snapshot, fip_filter=self.fip_filter or None)


def verify(inputs: RunInputs, nodes: Mapping[str, NodeObservation]) -> Verification:
    """Node checks, then the data-plane checks of the probes, for the inputs' floating IPs."""
    exp = fg_ports_in_use(inputs.expectations(), nodes)
    findings = run_node_checks(exp, nodes)
    probes, dataplane = _probe_findings(
        exp, nodes, inputs.resources, inputs.probe_dir, inputs.probes
    )
    findings += dataplane
    rows = fip_rows(exp, nodes, findings, probes, vm_names(inputs.resources))
    return Verification(exp, nodes, findings, probes, rows, run_scope(inputs.resources))


def verify_run_dir(
    run_dir: Path, nodes: Mapping[str, NodeObservation] | None = None
) -> Verification:
    """`verify` on a run directory; `nodes` replaces its saved node states."""
    inputs = RunInputs.from_run_dir(run_dir)
    return verify(inputs, nodes if nodes is not None else load_nodes(run_dir / NODES))
