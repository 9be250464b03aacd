#!/usr/bin/env python3
"""Inventory of a single-node DevStack (ML2/OVS, DVR): this machine, as Neutron names it.

A script, not a YAML file, because the host name must be the machine's own and must reach every
reader as a plain value: ansible-playbook renders templates in inventory variables, but
`ansible-inventory --list`, which the testinfra suite (tests/infra) reads, does not.

Two inventory hosts, one machine (both `ansible_connection: local`):

- <hostname>, groups network_nodes and computes: the node the collector reads (dvr_snat L3 agent,
  nova-compute). neutron_host = socket.gethostname(), the default `host` of Neutron's agents and of
  nova-compute (DevStack sets none); DVR_VERIFY_NEUTRON_HOST overrides it for a cloud that sets
  `[DEFAULT] host`.
- devstack-probe, group probe: the external side, br-ex holding DevStack's PUBLIC_NETWORK_GATEWAY
  (group_vars/probe.yml). A host of its own because the testinfra suite collects every host except
  those in group probe.

Variables for verify_dvr.yml: group_vars/all.yml. Become is passwordless sudo (CI runners,
DevStack's stack user).
"""

import json
import os
import socket
import sys


def inventory() -> dict:
    node = os.environ.get("DVR_VERIFY_NEUTRON_HOST") or socket.gethostname()
    hostvars = {
        node: {"ansible_connection": "local", "neutron_host": node},
        "devstack-probe": {"ansible_connection": "local"},
    }
    return {
        "_meta": {"hostvars": hostvars},
        "all": {"children": ["network_nodes", "computes", "probe"]},
        "network_nodes": {"hosts": [node]},
        "computes": {"hosts": [node]},
        "probe": {"hosts": ["devstack-probe"]},
    }


if __name__ == "__main__":
    # --list: everything (hostvars in _meta); --host <name>: nothing more to say.
    print(json.dumps(inventory() if "--host" not in sys.argv[1:] else {}))
