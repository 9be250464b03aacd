"""The run's verdict (summary.run_verdict), strict mode included: a run whose own FIPs, VMs or
router were not verified fails in strict mode and passes otherwise; another router's "not
verified" never fails it. Then the same through `dvr-verify check --strict` on the real capture."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from capture_loader import capture_run_dir, capture_vm

from dvr_verify.cli import main
from dvr_verify.findings import Finding, Status
from dvr_verify.provision import Provisioned
from dvr_verify.summary import RunScope, run_verdict

ROUTER, OTHER = "b0853bf0-1485-48a3-8d0d-f4f684bca6f8", "0e4d1f5a-9c3b-4f7e-8a61-2d5c7b9e3f10"
FIP, FIXED, PORT = "172.30.89.152", "10.0.111.251", "68cb0667-11ac-42fa-bb3b-2e7dea94d1b4"
SCOPE = RunScope(fips=frozenset({FIP}), vms=frozenset({"nofip 10.0.111.6"}), router_id=ROUTER)


def unverified(subject: str, namespace: str = "", why: str = "host not collected") -> Finding:
    return Finding("rfp.address", Status.NOT_VERIFIED, subject, namespace=namespace, observed=why)


PASSED = Finding("fg.proxy_arp", Status.PASS, "node-12 fip-x")
OWN = {
    "its FIP": unverified(FIP, why="no SSH into VM vm1: its probe did not run"),
    "its VM without FIP": unverified("nofip 10.0.111.6"),
    "its router": unverified(f"router {ROUTER}"),
    "its qrouter namespace": unverified(f"node-12 qrouter-{ROUTER}"),
    "its router in a fip namespace": unverified(f"node-12 fip-x router {ROUTER}"),
    "a host-level check inside its namespace": unverified("node-12", f"snat-{ROUTER}"),
}
FOREIGN = {
    "another router": unverified(f"router {OTHER}"),
    "another router's namespace": unverified(f"node-12 qrouter-{OTHER}", f"qrouter-{OTHER}"),
    "another FIP": unverified("172.30.89.7"),
    "a host": unverified("node-12.example.local"),
}


@pytest.mark.parametrize("case", sorted(OWN))
def test_strict_fails_on_the_runs_own_not_verified_naming_it_and_why(case: str) -> None:
    finding = OWN[case]
    lenient = run_verdict([PASSED, finding], SCOPE)
    assert lenient.passed and lenient.exit_code == 0 and lenient.lines() == []
    strict = run_verdict([PASSED, finding], SCOPE, strict=True)
    assert not strict.passed and strict.exit_code == 1
    assert strict.unverified == (finding,)
    assert f"rfp.address {finding.subject}" in strict.lines()[1]
    assert finding.observed in strict.lines()[1]


@pytest.mark.parametrize("case", sorted(FOREIGN))
def test_strict_ignores_what_is_not_the_runs_own(case: str) -> None:
    verdict = run_verdict([PASSED, FOREIGN[case]], SCOPE, strict=True)
    assert verdict.passed and verdict.unverified == ()
    assert verdict.lines() == [
        "Strict mode: every verdict about this run's own resources was reached"
    ]


def test_a_failure_fails_the_run_strict_or_not() -> None:
    failed = Finding("fip.dnat", Status.FAIL, FIP)
    assert run_verdict([PASSED, failed], SCOPE).exit_code == 1
    assert run_verdict([PASSED, failed], SCOPE, strict=True).failures == (failed,)
    assert run_verdict([PASSED, Finding("x.y", Status.WARN, FIP)], SCOPE, strict=True).passed


def test_an_audit_in_strict_mode_counts_every_not_verified() -> None:
    """An audit makes nothing: what it verifies (every FIP and router) is its scope."""
    assert not run_verdict([FOREIGN["another router"]], None, strict=True).passed
    assert run_verdict([FOREIGN["another router"]], None).passed


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A verify run's directory on the real capture: its router, its FIP VM; no probes."""
    capture_run_dir(tmp_path)
    vms = [capture_vm("vm1", FIP, PORT, FIXED), capture_vm("nofip", None, "p2", "10.0.111.135")]
    made = Provisioned("r1", "dvr-verify-run-r1", router_id=ROUTER, vms=vms)
    (tmp_path / "resources.json").write_text(json.dumps(made.as_dict()))
    return tmp_path


def test_check_strict_is_green_on_the_real_capture(run_dir: Path, capsys) -> None:
    assert main(["check", "--run-dir", str(run_dir), "--strict"]) == 0, capsys.readouterr().out
    assert json.loads((run_dir / "report.json").read_text())["exit_code"] == 0


def test_check_strict_fails_when_ssh_reached_no_vm(run_dir: Path, capsys) -> None:
    """The guests never verified (SSH into every VM failed): green, but red in strict mode."""
    (run_dir / "probes").mkdir()
    (run_dir / "probes" / "unreached.json").write_text(json.dumps({"vms": ["vm1", "nofip"]}))
    assert main(["check", "--run-dir", str(run_dir)]) == 0
    capsys.readouterr()
    assert main(["check", "--run-dir", str(run_dir), "--strict"]) == 1
    summary = (run_dir / "summary.txt").read_text()
    assert capsys.readouterr().out.startswith(summary)
    assert "Strict mode: FAILED, 4 not verified of this run's own" in summary
    why = "no SSH into VM {}: its probe did not run"
    for check in ("egress.source", "trace.path"):
        assert f"  {check} {FIP}: {why.format('vm1')}" in summary
        assert f"  {check} nofip 10.0.111.135: {why.format('nofip')}" in summary
    report = json.loads((run_dir / "report.json").read_text())
    assert report["exit_code"] == 1 and report["meta"]["strict"] is True
    junit = (run_dir / "junit.xml").read_text()
    assert junit.count('type="not_verified"') == 4 and "<skipped" not in junit


def test_ci_and_make_test_verify_in_strict_mode() -> None:
    """The DevStack jobs' verify_dvr.yml, make test's lab runs and tests/e2e are strict."""
    repo = Path(__file__).resolve().parents[2]
    run = yaml.safe_load((repo / "playbooks/zuul/run.yml").read_text())[-1]["tasks"]
    block = next(t for t in run if "always" in t)["block"]
    argvs = [t["ansible.builtin.command"]["argv"] for t in block if "ansible.builtin.command" in t]
    assert "dvr_verify_strict=true" in next(a for a in argvs if "verify_dvr.yml" in a)
    workflow = yaml.safe_load((repo / ".github/workflows/devstack-dvr.yml").read_text())
    step = next(s for s in workflow["jobs"]["devstack-dvr"]["steps"] if s.get("id") == "verify")
    assert "-e dvr_verify_strict=true" in step["run"]
    make = (repo / "Makefile").read_text()
    assert make.count("verify_dvr.yml $(STRICT)") == 2 and '"dvr_verify_strict": true' in make
    assert '"-e", "dvr_verify_strict=true"' in (repo / "tests/e2e/test_verify.py").read_text()
