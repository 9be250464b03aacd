"""Helpers for the lab tests: the generated inventory, SSH into lab hosts, the SDK connection.

The lab tests run only against a lab that is up (`make lab-up`, root); otherwise they are skipped.
"""

import os
import subprocess

import pytest
from scenario import CLOUDS, INVENTORY, REPO, load_inventory

CLOUD = "dvr-lab"


def lab_is_up():
    """(True, "") when the lab looks up, else (False, why not)."""
    if not INVENTORY.exists() or not CLOUDS.exists():
        return (
            False,
            "the lab is not up (no inventory/lab/hosts.yml or clouds.yaml): run `make lab-up`",
        )
    return True, ""


class LabHost:
    """A lab host reached over SSH like a real node."""

    def __init__(self, name, hostvars, allvars):
        self.name = name
        self.address = hostvars["ansible_host"]
        self.neutron_host = hostvars.get("neutron_host", name)
        self.agent_mode = hostvars.get("lab_agent_mode")
        self.key = allvars["ansible_ssh_private_key_file"]

    def run(self, command, check=True, timeout=60):
        argv = [
            "ssh", "-i", self.key, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10",
            f"root@{self.address}", command,
        ]  # fmt: skip
        res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if check and res.returncode != 0:
            raise AssertionError(f"{self.name}: `{command}` rc={res.returncode}: {res.stderr}")
        return res.stdout

    def __repr__(self):
        return f"LabHost({self.name})"


@pytest.fixture(scope="session")
def lab():
    up, why = lab_is_up()
    if not up:
        pytest.skip(why)
    return load_inventory()


@pytest.fixture(scope="session")
def hosts(lab):
    """{inventory name: LabHost} for every host in the inventory."""
    out = {}
    for group in lab["groups"].values():
        for name, hv in group.items():
            out[name] = LabHost(name, hv, lab["vars"])
    return out


@pytest.fixture(scope="session")
def conn(lab):
    import openstack

    os.chdir(REPO)  # openstacksdk finds ./clouds.yaml
    return openstack.connect(cloud=CLOUD)
