"""The Ansible side of cleanup: every run starts with the sweep of abandoned runs, not with the
deletion of everything tagged; playbooks/cleanup.yml deletes everything only on the lab or when
confirmed, and one kept run's cleanup leaves the others. The playbook runs in check mode on
localhost with inventories whose hosts are never contacted: no cloud, no SSH."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ROLE_TASKS = REPO / "roles/dvr_verify/tasks"
PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
ALL_TASK = "Delete every resource tagged dvr-verify (every run's)"

needs_ansible = pytest.mark.skipif(not PLAYBOOK.exists(), reason="no ansible-playbook in the venv")


def inventory(tmp_path: Path, lab_cloud: str | None) -> Path:
    """A compute (never reached), inside the group `lab` naming `lab_cloud` as the lab does."""
    computes = {"computes": {"hosts": {"node-1": {"ansible_host": "192.0.2.1"}}}}
    tree = computes
    if lab_cloud:
        tree = {"lab": {"vars": {"lab_cloud": lab_cloud}, "children": computes}}
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump({"all": {"children": tree}}))
    return path


def cleanup(tmp_path: Path, lab_cloud: str | None, **extra: object) -> subprocess.CompletedProcess:
    """playbooks/cleanup.yml --check against cloud `mycloud`."""
    variables = {
        "dvr_verify_cloud": "mycloud",
        "dvr_verify_runs_dir": str(tmp_path / "runs"),
        "dvr_verify_workdir": str(tmp_path),
        **extra,
    }
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}
    env["ANSIBLE_LOCAL_TEMP"] = str(tmp_path / "ansible-tmp")
    return subprocess.run(
        [str(PLAYBOOK), str(REPO / "playbooks/cleanup.yml"), "--check",
         "-i", str(inventory(tmp_path, lab_cloud)), "-e", json.dumps(variables)],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120, check=False,
    )  # fmt: skip


@needs_ansible
def test_deleting_every_run_off_the_lab_needs_the_confirmation_variable(tmp_path: Path) -> None:
    refused = cleanup(tmp_path, lab_cloud=None)
    assert refused.returncode != 0
    assert "needs -e dvr_verify_cleanup_confirm=true" in refused.stdout + refused.stderr
    assert ALL_TASK not in refused.stdout
    confirmed = cleanup(tmp_path, lab_cloud=None, dvr_verify_cleanup_confirm=True)
    assert confirmed.returncode == 0, confirmed.stdout[-2000:]
    assert ALL_TASK in confirmed.stdout


@needs_ansible
def test_on_the_lab_deleting_every_run_needs_no_confirmation(tmp_path: Path) -> None:
    """The lab: the inventory's group `lab` names the cloud (lab_cloud, inventory/lab)."""
    done = cleanup(tmp_path, lab_cloud="mycloud")
    assert done.returncode == 0, done.stdout[-2000:]
    assert ALL_TASK in done.stdout
    assert cleanup(tmp_path, lab_cloud="dvr-lab").returncode != 0  # the lab's, another cloud


@needs_ansible
def test_cleanup_of_one_kept_run_leaves_every_other_run(tmp_path: Path) -> None:
    run_dir = tmp_path / "kept"
    run_dir.mkdir()
    (run_dir / "resources.json").write_text(json.dumps({"run_id": "r1", "backend": "nova"}))
    done = cleanup(tmp_path, lab_cloud=None, dvr_verify_run_dir=str(run_dir))
    assert done.returncode == 0, done.stdout[-2000:]
    assert "Delete the run's resources (tag dvr-verify-run-<run id>)" in done.stdout
    assert ALL_TASK not in done.stdout


def test_every_run_starts_with_the_sweep_of_abandoned_runs_only() -> None:
    """preflight.yml runs `dvr-verify sweep --run-dir` and never deletes everything tagged."""
    tasks = yaml.safe_load((ROLE_TASKS / "preflight.yml").read_text())
    includes = [t.get("ansible.builtin.include_tasks") for t in tasks]
    assert "cleanup_all.yml" not in includes
    argv = [str(t.get("ansible.builtin.command", {}).get("argv", "")) for t in tasks]
    assert any("['sweep', '--run-dir', dvr_verify_run_path]" in a for a in argv)


def test_two_runs_started_in_the_same_second_get_different_ids() -> None:
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template

    setup = yaml.safe_load((ROLE_TASKS / "setup.yml").read_text())
    expression = setup[0]["ansible.builtin.set_fact"]["dvr_verify_run_id"]
    templar = Templar(loader=DataLoader(), variables={})
    ids = {templar.template(trust_as_template(expression)) for _ in range(20)}
    assert len(ids) > 1
    assert all(re.fullmatch(r"\d{14}-[0-9a-f]{4}", run_id) for run_id in ids), ids
