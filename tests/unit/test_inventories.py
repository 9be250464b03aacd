"""The DevStack inventories (single node, Zuul multinode) give the collector DevStack's paths."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2
import yaml

ROOT = Path(__file__).resolve().parents[2]
# DevStack: stackrc DEST=/opt/stack, DATA_DIR=${DEST}/data; lib/neutron
# NEUTRON_STATE_PATH=$DATA_DIR/neutron, written to neutron.conf [DEFAULT] state_path.
DEVSTACK_STATE_PATH = "/opt/stack/data/neutron"


def _zuul_inventory() -> dict[str, Any]:
    """playbooks/zuul/run.yml's rendering of the template, for a controller and one subnode."""
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.filters["to_json"] = json.dumps
    node = {"nodepool": {"private_ipv4": "10.0.0.6"}, "ansible_facts": {"nodename": "sub-1"}}
    hostvars = {"controller": {"ansible_facts": {"nodename": "ctl"}}, "compute1": node}
    template = (ROOT / "playbooks/zuul/templates/multinode-hosts.yml.j2").read_text()
    text = env.from_string(template).render(
        groups={"subnode": ["compute1"]},
        hostvars=hostvars,
        dvr_verify_zuul_gateway="172.24.4.1",
        dvr_verify_zuul_key="/tmp/key",
    )
    return yaml.safe_load(text)["all"]["vars"]


def test_both_devstack_inventories_read_the_l3_agent_state_where_devstack_keeps_it() -> None:
    single = yaml.safe_load((ROOT / "inventory/devstack/group_vars/all.yml").read_text())
    assert single["dvr_verify_state_path"] == DEVSTACK_STATE_PATH
    assert _zuul_inventory()["dvr_verify_state_path"] == DEVSTACK_STATE_PATH
