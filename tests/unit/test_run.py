"""The one pipeline (dvr_verify.run) on a run directory made of the real Neutron 29 capture."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from capture_loader import LAB29, LAB29_HOSTS, capture_run_dir, capture_vm

from dvr_verify.findings import Status
from dvr_verify.provision import Provisioned, ProvisionedVM
from dvr_verify.run import RunInputError, run_fips, verify_run_dir

FIP, FIXED, PORT = "172.30.89.152", "10.0.111.251", "68cb0667-11ac-42fa-bb3b-2e7dea94d1b4"


def _vm(name: str, fip: str | None, port: str = PORT) -> ProvisionedVM:
    return capture_vm(name, fip, port, FIXED)


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """api/ and nodes/ of the capture; no resources.json (an audit's directory)."""
    return capture_run_dir(tmp_path)


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


TRACE_OK = (LAB29 / "probes" / "traceroute-vm-with-fip.txt").read_text()


@pytest.mark.parametrize(
    ("output", "reason"),
    [
        ("== traceroute 172.30.0.1\nsh: traceroute: not found\n== end\n", "traceroute: not found"),
        (
            "== traceroute 172.30.0.1\nsudo: a password is required\n== end\n",
            "sudo: a password is required",
        ),
        (
            f"== traceroute 172.30.0.1\n{TRACE_OK.splitlines()[0]}\n"
            "Connection to 10.0.111.135 closed by remote host.\n",
            "ssh exit 255",
        ),
    ],
    ids=["no-traceroute", "sudo-prompt", "ssh-dropped"],
)
def test_one_vm_whose_traceroute_gave_nothing_is_not_verified_alone(
    run_dir: Path, output: str, reason: str
) -> None:
    """Item 4 of issue 12: the other VM is still judged, and the report says why."""
    port2 = "7ec748b4-92cf-48bb-b5c3-b24349360b67"
    vm2 = ProvisionedVM("vm2", LAB29_HOSTS[1], port2, "dev", "fa:16:3e:4b:9c:e3",
                        "10.0.111.135", 24, "10.0.111.1", 1500, None, None)  # fmt: skip
    made = Provisioned("r3", "dvr-verify-run-r3", vms=[_vm("vm1", FIP), vm2])
    (run_dir / "resources.json").write_text(json.dumps(made.as_dict()))
    probes = run_dir / "probes"
    probes.mkdir()
    ok = f"== ssh vm1\n== traceroute 172.30.0.1\n{TRACE_OK}== end\n== ssh exit 0\n"
    (probes / "traceroute-vm1.txt").write_text(ok)
    rc = 255 if reason == "ssh exit 255" else 0
    (probes / "traceroute-vm2.txt").write_text(f"== ssh vm2\n{output}== ssh exit {rc}\n")
    traces = {f.subject: f for f in verify_run_dir(run_dir).findings if f.check == "trace.path"}
    assert traces[FIP].status is Status.PASS
    bad = traces["vm2 10.0.111.135"]
    assert bad.status is Status.NOT_VERIFIED and reason in bad.observed
    assert bad.observed.startswith("traceroute from vm2 to 172.30.0.1: ")


def test_a_vm_dvr_traceroute_could_not_enter_is_not_verified_alone(run_dir: Path) -> None:
    """The scapy path (lab VMs): the module's per-VM errors are reported, not dropped."""
    made = Provisioned("r4", "dvr-verify-run-r4", vms=[_vm("vm1", FIP), _vm("vm2", None, "p2")])
    (run_dir / "resources.json").write_text(json.dumps(made.as_dict()))
    (run_dir / "probes").mkdir()
    hops = [{"ttl": 1, "address": "10.0.111.1"}, {"ttl": 2, "address": "169.254.127.193"},
            {"ttl": 3, "address": "172.30.0.1"}]  # fmt: skip
    trace = {"vm": "vm1", "source_ip": FIXED, "destination": "172.30.0.1", "hops": hops}
    error = "setns vm-p2: [Errno 2] No such file or directory"
    module = {"traceroutes": [trace], "errors": {"vm2": error}}
    (run_dir / "probes" / f"traceroute-{LAB29_HOSTS[1]}.json").write_text(json.dumps(module))
    traces = [f for f in verify_run_dir(run_dir).findings if f.check == "trace.path"]
    assert [(f.subject, f.status) for f in traces if f.subject == FIP] == [(FIP, Status.PASS)]
    (bad,) = [f for f in traces if f.subject != FIP]
    assert bad.status is Status.NOT_VERIFIED and bad.observed == f"traceroute from vm2: {error}"
