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
import yaml

from dvr_verify.expect import Expectations, fetch_snapshot
from dvr_verify.findings import Finding
from dvr_verify.model import NodeObservation, parse_node
from dvr_verify.run import RunInputs, verify

PROBE_GROUPS = ("probe",)
ROLE_DEFAULTS = Path(__file__).resolve().parents[2] / "roles/dvr_verify/defaults/main.yml"
# The namespaces a node without dvr_verify_namespaces is collected for: the role's default.
NAMESPACES = yaml.safe_load(ROLE_DEFAULTS.read_text())["dvr_verify_namespaces"]
# testinfra runs ansible-inventory and ansible: those of this interpreter's venv.
os.environ["PATH"] = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dvr-verify")
    group.addoption("--dvr-run", help="a verify_dvr.yml run directory (runs/<id>)")
    group.addoption("--dvr-audit", action="store_true", help="every floating IP of the cloud")
    group.addoption("--dvr-cloud", default=os.environ.get("OS_CLOUD", "dvr-lab"))


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


def _inputs(config: pytest.Config) -> RunInputs:
    """A run's inputs (its API state, resources and probes), or for an audit the live API."""
    if "inputs" not in _CACHE:
        run = config.getoption("dvr_run")
        if run:
            _CACHE["inputs"] = RunInputs.from_run_dir(Path(run))
        else:
            import openstack

            conn = openstack.connect(cloud=config.getoption("dvr_cloud"))
            _CACHE["inputs"] = RunInputs(fetch_snapshot(conn))
    return _CACHE["inputs"]


def _expectations(config: pytest.Config) -> Expectations:
    if "exp" not in _CACHE:
        _CACHE["exp"] = _inputs(config).expectations()
    return _CACHE["exp"]


def _collect(host: testinfra.host.Host) -> tuple[str, dict[str, Any]]:
    """dvr_collect with the node's options; those it does not set take the module's defaults."""
    variables = host.ansible.get_variables()
    name = variables.get("neutron_host", variables["inventory_hostname"])
    args = {"namespaces": variables.get("dvr_verify_namespaces", NAMESPACES)}
    for option in ("command_prefix", "ovs_command_prefix", "state_path"):
        if f"dvr_verify_{option}" in variables:
            args[option] = variables[f"dvr_verify_{option}"]
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
    """Every finding of the one pipeline (dvr_verify.run): node checks, and a run's probes."""
    return verify(_inputs(request.config), dvr_nodes).findings


@pytest.fixture(scope="session")
def dvr_expectations(request: pytest.FixtureRequest) -> Expectations:
    return _expectations(request.config)
