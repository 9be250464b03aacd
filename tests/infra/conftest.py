"""The DVR invariants as pytest tests against an inventory (pytest-testinfra).

    pytest --hosts=ansible://all --ansible-inventory=inventory/lab tests/infra --dvr-run runs/<id>
    pytest --hosts=ansible://all --ansible-inventory=inventory/lab tests/infra --dvr-audit

`--dvr-run` checks the floating IPs of one verify_dvr.yml run (its saved API state and probe
results); `--dvr-audit` checks every floating IP of the cloud (`--dvr-cloud`, default dvr-lab),
read-only: nothing is created. Each node is collected once, by testinfra's Ansible backend running
the dvr_collect module in check mode.
"""

from __future__ import annotations

import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import testinfra

from dvr_verify.assemble import assemble
from dvr_verify.checks import run_node_checks
from dvr_verify.checks.dataplane import check_dataplane
from dvr_verify.expect import Expectations, build_expectations, fetch_snapshot, load_snapshot
from dvr_verify.findings import Finding
from dvr_verify.model import NodeObservation, parse_node

PROBE_GROUPS = ("probe",)
# testinfra runs ansible-inventory and ansible: those of this interpreter's venv.
os.environ["PATH"] = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dvr-verify")
    group.addoption("--dvr-run", help="a verify_dvr.yml run directory (runs/<id>)")
    group.addoption("--dvr-audit", action="store_true", help="every floating IP of the cloud")
    group.addoption("--dvr-cloud", default=os.environ.get("OS_CLOUD", "dvr-lab"))


def _snapshot(config: pytest.Config) -> dict[str, Any]:
    run = config.getoption("dvr_run")
    if run:
        return load_snapshot(Path(run) / "api")
    import openstack

    return fetch_snapshot(openstack.connect(cloud=config.getoption("dvr_cloud")))


def _scope(config: pytest.Config) -> tuple[str | None, str]:
    run, audit = config.getoption("dvr_run"), config.getoption("dvr_audit")
    if not run and not audit:
        return None, "give --dvr-run runs/<id> or --dvr-audit"
    if not config.getoption("hosts"):
        return None, "give --hosts=ansible://all --ansible-inventory=<inventory>"
    return ("run" if run else "audit"), ""


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One test per (floating IP, check family)."""
    if "dvr_case" not in metafunc.fixturenames:
        return
    scope, why = _scope(metafunc.config)
    if scope is None:
        metafunc.parametrize("dvr_case", [pytest.param(None, marks=pytest.mark.skip(reason=why))])
        return
    exp = _expectations(metafunc.config)
    cases = [(str(f.address), family) for f in exp.fips for family in metafunc.function.families]
    metafunc.parametrize("dvr_case", cases, ids=[f"{fip}-{fam}" for fip, fam in cases])


_CACHE: dict[str, Any] = {}


def _expectations(config: pytest.Config) -> Expectations:
    if "exp" not in _CACHE:
        snapshot = _snapshot(config)
        run = config.getoption("dvr_run")
        fips = None
        if run and (Path(run) / "resources.json").exists():
            resources = json.loads((Path(run) / "resources.json").read_text())
            fips = [vm["fip"] for vm in resources["vms"] if vm.get("fip")]
        _CACHE["exp"] = build_expectations(snapshot, fip_filter=fips)
    return _CACHE["exp"]


def _collect(host: testinfra.host.Host) -> tuple[str, dict[str, Any]]:
    variables = host.ansible.get_variables()
    name = variables.get("neutron_host", variables["inventory_hostname"])
    args = {
        "namespaces": variables.get("dvr_verify_namespaces", ["qrouter-*", "snat-*", "fip-*"]),
        "command_prefix": variables.get("dvr_verify_command_prefix", []),
        "state_path": variables.get("dvr_verify_state_path", "/var/lib/neutron"),
    }
    doc = host.ansible("dvr_collect", json.dumps(args), check=True, become=True)
    return name, doc


@pytest.fixture(scope="session")
def dvr_nodes(request: pytest.FixtureRequest) -> dict[str, NodeObservation]:
    """Every node of the inventory (the probe host excepted), collected once, in parallel."""
    hosts = testinfra.get_hosts(
        request.config.getoption("hosts").split(","),
        ansible_inventory=request.config.getoption("ansible_inventory"),
    )
    nodes = [
        h
        for h in hosts
        if not set(h.ansible.get_variables().get("group_names", [])) & set(PROBE_GROUPS)
    ]
    with ThreadPoolExecutor(max_workers=8) as pool:
        docs = dict(pool.map(_collect, nodes))
    return {name: parse_node(doc, host=name) for name, doc in docs.items()}


@pytest.fixture(scope="session")
def dvr_findings(request: pytest.FixtureRequest, dvr_nodes) -> list[Finding]:
    """Every finding of the node checks, plus the data-plane checks of a run's probes."""
    exp = _expectations(request.config)
    findings = run_node_checks(exp, dvr_nodes)
    run = request.config.getoption("dvr_run")
    if run and (Path(run) / "probes").is_dir():
        resources = json.loads((Path(run) / "resources.json").read_text())
        router = exp.routers.get(resources.get("router_id", ""))
        gateway = router.gateway_port.ips()[0] if router and router.gateway_port else None
        probes = assemble(Path(run) / "probes", resources, str(gateway) if gateway else None)
        findings += check_dataplane(exp, probes, dvr_nodes)
    return findings


@pytest.fixture(scope="session")
def dvr_expectations(request: pytest.FixtureRequest) -> Expectations:
    return _expectations(request.config)
