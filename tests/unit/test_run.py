"""The one pipeline (dvr_verify.run) on a run directory made of the real Neutron 29 capture."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from capture_loader import LAB29, LAB29_HOSTS, load_capture

from dvr_verify.findings import Status
from dvr_verify.provision import Provisioned, ProvisionedVM
from dvr_verify.run import RunInputError, run_fips, verify_run_dir

FIP, FIXED, PORT = "172.30.89.152", "10.0.111.251", "68cb0667-11ac-42fa-bb3b-2e7dea94d1b4"


def _vm(name: str, fip: str | None, port: str = PORT) -> ProvisionedVM:
    return ProvisionedVM(name, LAB29_HOSTS[1], port, "dev", "fa:16:3e:00:00:01", FIXED, 24,
                         "10.0.111.1", 1500, fip, "fip-id" if fip else None)  # fmt: skip


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """api/ and nodes/ of the capture; no resources.json (an audit's directory)."""
    shutil.copytree(LAB29 / "api", tmp_path / "api")
    (tmp_path / "nodes").mkdir()
    for host in LAB29_HOSTS:
        (tmp_path / "nodes" / f"{host}.json").write_text(json.dumps(load_capture(LAB29 / host)))
    return tmp_path


def test_an_audit_checks_every_fip_of_the_snapshot(run_dir: Path) -> None:
    result = verify_run_dir(run_dir)
    assert [str(f.address) for f in result.expectations.fips] == [FIP]
    assert result.probes is None and not any(f.failed for f in result.findings)


def test_a_run_checks_its_own_fips_and_names_its_vms(run_dir: Path) -> None:
    made = Provisioned("r1", "dvr-verify-run-r1", vms=[_vm("vm1", FIP), _vm("nofip", None, "p2")])
    (run_dir / "resources.json").write_text(json.dumps(made.as_dict()))
    (run_dir / "probes").mkdir()
    (run_dir / "probes" / "unreached.json").write_text(json.dumps({"vms": ["vm1"]}))
    result = verify_run_dir(run_dir)
    assert [row["vm"] for row in result.rows] == ["vm1"]
    unreached = {(f.check, f.status) for f in result.findings if f.subject == FIP}
    assert ("trace.path", Status.NOT_VERIFIED) in unreached


def test_a_run_without_its_fip_in_the_snapshot_checks_nothing_of_others(run_dir: Path) -> None:
    made = Provisioned("r2", "dvr-verify-run-r2", vms=[_vm("vm1", "172.30.89.9")])
    (run_dir / "resources.json").write_text(json.dumps(made.as_dict()))
    assert run_fips(made) == ["172.30.89.9"]
    assert verify_run_dir(run_dir).expectations.fips == ()


def test_a_broken_resources_file_is_one_line(run_dir: Path) -> None:
    (run_dir / "resources.json").write_text("{")
    with pytest.raises(RunInputError, match=r"resources.json: not a run's resources"):
        verify_run_dir(run_dir)
