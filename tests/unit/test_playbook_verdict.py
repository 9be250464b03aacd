"""The Ansible side of a run's verdict and its run directory, on localhost only: no cloud, no SSH
(the inventory's hosts are never contacted). playbooks/recheck.yml fails like verify_dvr.yml on a
red check; dvr_verify_strict fails the play when the run's own guests were never verified; a
relative dvr_verify_run_dir is taken from where ansible-playbook started, whatever $PWD says."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from capture_loader import LAB29, LAB29_HOSTS, capture_vm, load_capture

from dvr_verify.provision import Provisioned

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
ROUTER = "b0853bf0-1485-48a3-8d0d-f4f684bca6f8"
FIP, FIXED, PORT = "172.30.89.152", "10.0.111.251", "68cb0667-11ac-42fa-bb3b-2e7dea94d1b4"
VERDICT = "Fail when a check failed"

pytestmark = pytest.mark.skipif(not PLAYBOOK.exists(), reason="no ansible-playbook in the venv")


def inventory(tmp_path: Path) -> Path:
    """The capture's nodes as computes (never reached)."""
    hosts = {host.split(".")[0]: {"neutron_host": host} for host in LAB29_HOSTS}
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump({"all": {"children": {"computes": {"hosts": hosts}}}}))
    return path


def play(
    tmp_path: Path, playbook: Path, *args: str, pwd: str | None = None
) -> subprocess.CompletedProcess[str]:
    """ansible-playbook in `tmp_path`, its $PWD `pwd` (None: unset)."""
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "PYTHONPATH": str(REPO)}
    env["ANSIBLE_LOCAL_TEMP"] = str(tmp_path / "ansible-tmp")
    env.pop("PWD", None)
    if pwd is not None:
        env["PWD"] = pwd
    argv = [str(PLAYBOOK), str(playbook), "-i", str(inventory(tmp_path)), *args]
    return subprocess.run(
        argv, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300, check=False
    )


def piece(tmp_path: Path, phases: list[str]) -> Path:
    """A localhost playbook: these role phases, then the verdict, as recheck.yml ends."""
    tasks = [
        {
            "name": "Phases",
            "ansible.builtin.include_role": {"name": "dvr_verify", "tasks_from": "phase"},
            "loop": phases,
            "loop_control": {"loop_var": "dvr_verify_phase"},
        },
        {
            "name": VERDICT,
            "ansible.builtin.include_role": {"name": "dvr_verify", "tasks_from": "verdict"},
        },
    ]
    path = tmp_path / "plays" / "piece.yml"  # not where it starts, as playbooks/ is not
    path.parent.mkdir(exist_ok=True)
    plays = [{"name": "Piece", "hosts": "localhost", "connection": "local",
              "gather_facts": False, "tasks": tasks}]  # fmt: skip
    path.write_text(yaml.safe_dump(plays, sort_keys=False))
    return path


def kept_run(run_dir: Path, unreached: list[str]) -> None:
    """A kept run on the real capture: its API snapshot and resources; SSH reached none of
    `unreached`."""
    shutil.copytree(LAB29 / "api", run_dir / "api")
    vms = [capture_vm("vm1", FIP, PORT, FIXED), capture_vm("nofip", None, "p2", "10.0.111.135")]
    made = Provisioned("r1", "dvr-verify-run-r1", router_id=ROUTER, vms=vms)
    (run_dir / "resources.json").write_text(json.dumps(made.as_dict()))
    (run_dir / "probes").mkdir()
    (run_dir / "probes" / "unreached.json").write_text(json.dumps({"vms": unreached}))


def check_play(
    tmp_path: Path, unreached: list[str], **extra: object
) -> subprocess.CompletedProcess[str]:
    """setup, load_run, check (the capture's node states as the collected results), verdict,
    in `tmp_path` (made here)."""
    tmp_path.mkdir(exist_ok=True)
    kept_run(tmp_path / "runs" / "r1", unreached)
    nodes = {host: load_capture(LAB29 / host) for host in LAB29_HOSTS}
    variables = {"dvr_verify_run_dir": "runs/r1", "dvr_verify_probe_required": False,
                 "dvr_verify_node_results": nodes, "dvr_verify_keys_dir": str(tmp_path / "keys"),
                 **extra}  # fmt: skip
    (tmp_path / "vars.json").write_text(json.dumps(variables))
    phases = ["setup", "load_run", "check"]
    return play(tmp_path, piece(tmp_path, phases), "-e", f"@{tmp_path / 'vars.json'}", pwd="/")


def test_strict_fails_the_play_when_ssh_reached_no_guest(tmp_path: Path) -> None:
    lenient = check_play(tmp_path / "lenient", ["vm1", "nofip"])
    assert lenient.returncode == 0, lenient.stdout[-3000:]
    assert "DVR verification passed" in lenient.stdout
    strict = check_play(tmp_path / "strict", ["vm1", "nofip"], dvr_verify_strict=True)
    assert strict.returncode == 2, strict.stdout[-3000:]
    assert "DVR verification FAILED (strict" in strict.stdout
    summary = (tmp_path / "strict" / "runs" / "r1" / "summary.txt").read_text()
    assert "Strict mode: FAILED, 4 not verified of this run's own" in summary
    assert f"trace.path {FIP}: no SSH into VM vm1" in summary


def test_strict_passes_a_run_whose_guests_were_reached(tmp_path: Path) -> None:
    done = check_play(tmp_path, [], dvr_verify_strict=True)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "Strict mode: every verdict about this run's own resources was reached" in done.stdout


@pytest.mark.parametrize(("check_rc", "play_rc"), [(1, 2), (0, 0)])
def test_recheck_fails_like_verify_when_a_check_failed(
    tmp_path: Path, check_rc: int, play_rc: int
) -> None:
    """recheck.yml's verdict (its phases skipped: they need the cloud and the nodes)."""
    variables = {"dvr_verify_check": {"rc": check_rc}, "dvr_verify_run_path": str(tmp_path)}
    done = play(tmp_path, REPO / "playbooks/recheck.yml", "--start-at-task", VERDICT,
                "-e", json.dumps(variables))  # fmt: skip
    assert done.returncode == play_rc, done.stdout[-2000:] + done.stderr[-2000:]
    assert ("DVR verification FAILED" in done.stdout) == (check_rc != 0)
    verify = yaml.safe_load((REPO / "verify_dvr.yml").read_text())[0]["tasks"][-1]
    recheck = yaml.safe_load((REPO / "playbooks/recheck.yml").read_text())[0]["tasks"]
    assert recheck[-1] == verify  # after the check phase, the same verdict as verify_dvr.yml


@pytest.mark.parametrize("pwd", [None, "/"], ids=["PWD unset", "PWD stale"])
def test_a_relative_run_dir_is_taken_from_where_ansible_playbook_started(
    tmp_path: Path, pwd: str | None
) -> None:
    """Every playbook's setup and load_run (recheck, cleanup, ...): runs/<id> from the cwd."""
    kept_run(tmp_path / "runs" / "r1", [])
    variables = {"dvr_verify_run_dir": "runs/r1", "dvr_verify_probe_required": False,
                 "dvr_verify_check": {"rc": 0}}  # fmt: skip
    done = play(tmp_path, piece(tmp_path, ["setup", "load_run"]), "-v",
                "-e", json.dumps(variables), pwd=pwd)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:]
    assert f'"dvr_verify_run_path": "{tmp_path}/runs/r1"' in done.stdout
    assert '"dvr_verify_run_id": "r1"' in done.stdout
    assert (tmp_path / "runs" / "r1" / "run.json").is_file()  # setup wrote the settings there


@pytest.mark.parametrize("pwd", [None, "/"], ids=["PWD unset", "PWD stale"])
def test_cleanup_of_a_run_named_relative_to_where_it_started(
    tmp_path: Path, pwd: str | None
) -> None:
    """playbooks/cleanup.yml -e dvr_verify_run_dir=runs/<id> (check mode: nothing deleted)."""
    kept_run(tmp_path / "runs" / "r1", [])
    variables = {"dvr_verify_cloud": "mycloud", "dvr_verify_run_dir": "runs/r1",
                 "dvr_verify_keys_dir": str(tmp_path / "keys")}  # fmt: skip
    done = play(tmp_path, REPO / "playbooks/cleanup.yml", "--check", "-v",
                "-e", json.dumps(variables), pwd=pwd)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:]
    assert f'"--run-dir", "{tmp_path}/runs/r1"' in done.stdout
