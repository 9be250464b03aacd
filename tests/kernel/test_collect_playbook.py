"""playbooks/collect.yml here: one dvr_collect call, the node JSON saved for the check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.kernel,
    pytest.mark.skipif(os.geteuid() != 0, reason="builds network namespaces: needs root"),
]


@pytest.fixture
def namespace():
    """A throwaway qrouter-like namespace with a veth inside; always deleted."""
    name = f"qrouter-dvrtest-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(
            [
                "ip",
                "-n",
                name,
                "link",
                "add",
                "rfp-test",
                "type",
                "veth",
                "peer",
                "name",
                "fpr-test",
            ],
            check=True,
        )
        subprocess.run(
            ["ip", "-n", name, "addr", "add", "169.254.64.2/31", "dev", "rfp-test"], check=True
        )
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def test_collect_play_writes_one_document_per_node(namespace: str, tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.ini"
    inventory.write_text(
        "[computes]\n"
        f"node-x ansible_connection=local neutron_host=node-x.example.local "
        f"ansible_python_interpreter={sys.executable}\n"
    )
    run_dir = tmp_path / "run"
    extra = {"dvr_verify_run_dir": str(run_dir), "dvr_verify_namespaces": [namespace]}
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            str(inventory),
            "playbooks/collect.yml",
            "-e",
            json.dumps(extra),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    doc = json.loads((run_dir / "nodes" / "node-x.example.local.json").read_text())
    assert doc["schema"] == 1
    assert "changed" not in doc and "invocation" not in doc
    (ns,) = doc["namespaces"]
    assert ns["name"] == namespace and ns["status"] == "ok"
    addrs = {a["local"] for link in ns["addresses"] for a in link.get("addr_info", [])}
    assert "169.254.64.2" in addrs
