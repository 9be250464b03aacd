# -*- coding: utf-8 -*-
# Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
---
module: dvr_collect
short_description: Collect a node's Neutron DVR plumbing (namespaces, iptables, OVS), read-only
description:
  - Reads, per network namespace, links, addresses, IPv4 and IPv6 routes of all tables, policy
    rules, neighbours, proxy neighbours, the DVR-relevant sysctls and the iptables tables
    V(nat), V(raw), V(mangle) and V(filter).
  - Reads the local Open vSwitch (bridges with their flows, ports, interfaces) and the L3 agent
    state files C(fip-linklocal-networks) and C(fip-priorities).
  - Returns one document per node (schema 1 of docs/design.md); every documented key is always
    present and whatever could not be read is listed in an C(errors) list next to it.
  - Never changes anything on the node; RV(changed) is always V(false).
  - Needs iproute2 with JSON output (C(ip -j), iproute2 >= 4.13) and root privileges.
version_added: "0.1.0"
options:
  namespaces:
    description:
      - Shell-style (fnmatch) patterns; only network namespaces matching one of them are read.
    type: list
    elements: str
    default: ["*"]
  command_prefix:
    description:
      - Argument list prepended to every command (C(ip), C(iptables-save), C(cat)), for example
        V(["docker", "exec", "neutron_l3_agent"]) for a containerised L3 agent.
    type: list
    elements: str
    default: []
  ovs_command_prefix:
    description:
      - Argument list prepended to C(ovs-vsctl) and C(ovs-ofctl), for example
        V(["docker", "exec", "openvswitch_vswitchd"]).
      - When omitted, O(command_prefix) is used.
    type: list
    elements: str
  state_path:
    description:
      - The L3 agent's C(state_path) holding C(fip-linklocal-networks) and C(fip-priorities).
      - When omitted, C(state_path) of the C([DEFAULT]) section of C(/etc/neutron/neutron.conf)
        and C(/etc/neutron/l3_agent.ini) (read through O(command_prefix); the later file wins, as
        for the agent), else V(/var/lib/neutron). RV(l3_agent_state.state_path_source) says which.
    type: str
  collect_ovs:
    description:
      - Read Open vSwitch bridges, ports, interfaces and flows.
    type: bool
    default: true
  collect_iptables:
    description:
      - Read the iptables tables of every namespace (both nft and legacy backends).
    type: bool
    default: true
  parallel:
    description:
      - Number of namespaces collected concurrently (threads).
    type: int
    default: 8
attributes:
  check_mode:
    support: full
    details: The module only reads; it runs the same in check mode.
  diff_mode:
    support: none
  platform:
    platforms: posix
    details: Linux nodes with iproute2, iptables and (optionally) Open vSwitch.
notes:
  - Runs C(ip -n <ns> -j ...), C(ip netns exec <ns> sh -c 'grep ...') (sysctls, one command
    per namespace), C(ip netns exec <ns> iptables-nft-save|iptables-legacy-save),
    C(ovs-vsctl --format=json list ...) and
    C(ovs-ofctl -O <version> dump-flows --no-stats <bridge>).
  - A namespace that disappears while it is being read is reported with status V(vanished).
requirements:
  - iproute2 >= 4.13 (JSON output)
  - Python >= 3.8 on the node
author:
  - dvr-verify authors
extends_documentation_fragment:
  - action_common_attributes
"""

EXAMPLES = r"""
- name: Collect the DVR state of every node
  dvr_collect:
  register: dvr_state

- name: Collect only Neutron router and FIP namespaces, without OVS
  dvr_collect:
    namespaces:
      - "qrouter-*"
      - "snat-*"
      - "fip-*"
    collect_ovs: false

- name: Collect on a Kolla-style containerised node
  dvr_collect:
    command_prefix: ["docker", "exec", "neutron_l3_agent"]
    ovs_command_prefix: ["docker", "exec", "openvswitch_vswitchd"]
    parallel: 16
"""

RETURN = r"""
schema:
  description: Version of the document layout.
  returned: success
  type: int
  sample: 1
hostname:
  description: The node's fully qualified name (Python's C(socket.getfqdn)).
  returned: success
  type: str
  sample: node-12.example.local
iproute2:
  description: Output of C(ip -V).
  returned: success
  type: str
  sample: ip utility, iproute2-6.1.0, libbpf 1.1.2
namespaces:
  description: The network namespaces matching O(namespaces), sorted by name.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: Namespace name.
      type: str
      sample: qrouter-b0853bf0-1485-48a3-8d0d-f4f684bca6f8
    status:
      description:
        - V(ok); V(vanished) when the namespace was listed but disappeared while being read;
          V(error) when its links, addresses, IPv4 routes or rules, or neighbours could not be
          read (see RV(namespaces[].errors)); lesser failures are only listed there.
      type: str
      sample: ok
    links:
      description: C(ip -j -d link show) objects, unmodified.
      type: list
      elements: dict
    addresses:
      description: C(ip -j addr show) objects, unmodified.
      type: list
      elements: dict
    routes:
      description: Routes of all tables, keys V(4) and V(6) (C(ip -4/-6 -j route show table all)).
      type: dict
      sample: {"4": [{"dst": "default", "gateway": "169.254.127.193", "table": "16"}], "6": []}
    rules:
      description: Policy rules, keys V(4) and V(6) (C(ip -4/-6 -j rule show)).
      type: dict
      sample: {"4": [{"priority": 48835, "src": "10.0.111.251", "table": "16"}], "6": []}
    neighbours:
      description: C(ip -j neigh show) objects.
      type: list
      elements: dict
    neighbours_proxy:
      description: C(ip -j neigh show proxy) objects.
      type: list
      elements: dict
    sysctls:
      description:
        - Sysctl name to string value. V(net.ipv4.ip_forward), V(net.ipv4.ip_nonlocal_bind),
          V(net.ipv6.conf.all.forwarding), V(net.netfilter.nf_conntrack_tcp_be_liberal),
          V(net.netfilter.nf_conntrack_tcp_loose); C(net.ipv4.conf.<all|device>.*) for
          arp_announce, arp_filter, arp_ignore, bc_forwarding, forwarding, mc_forwarding,
          proxy_arp, rp_filter, send_redirects; C(net.ipv4.neigh.<device>.proxy_delay).
      type: dict
      sample: {"net.ipv4.conf.fg-8eefcfe7-86.proxy_arp": "1"}
    iptables:
      description: The iptables tables of the backend holding C(neutron-*) chains.
      type: dict
      contains:
        collected:
          description:
            - V(true) when an iptables-save backend answered; V(false) when none did or
              O(collect_iptables=false).
          type: bool
        backend:
          description:
            - V(nft) or V(legacy), the backend holding C(neutron-*) chains, else the non-empty
              one; V(null) when both are empty.
          type: str
          sample: nft
        neutron_chains_in:
          description: The backends that hold C(neutron-*) chains (two means a mixed node).
          type: list
          elements: str
          sample: ["nft"]
        tables:
          description:
            - Keys V(nat), V(raw), V(mangle), V(filter), always present.
            - "Each table is
              C({\"chains\": {CHAIN: {\"policy\": ACCEPT or null, \"rules\": [RULE]}}});
              a rule has the keys C(raw), C(target), C(options), C(matches) and C(negated)
              (see docs/design.md)."
          type: dict
    errors:
      description: What could not be read in this namespace.
      type: list
      elements: dict
      contains:
        what:
          description: What was being read.
          type: str
        command:
          description: The command line.
          type: str
        rc:
          description: Its exit code.
          type: int
        stderr:
          description: Its standard error (or a description of the problem).
          type: str
ovs:
  description: The local Open vSwitch.
  returned: success
  type: dict
  contains:
    collected:
      description: V(false) when O(collect_ovs=false).
      type: bool
    available:
      description: V(true) when C(ovs-vsctl) could read the database.
      type: bool
    bridges:
      description: Bridges sorted by name.
      type: list
      elements: dict
      contains:
        name:
          description: Bridge name.
          type: str
          sample: br-int
        datapath_type:
          description: V(system), V(netdev) or empty.
          type: str
        protocols:
          description: The bridge's C(protocols) column.
          type: list
          elements: str
          sample: ["OpenFlow10", "OpenFlow13"]
        flow_protocol:
          description: The OpenFlow version the flows were dumped with (highest allowed).
          type: str
          sample: OpenFlow13
        ports:
          description: Names of the bridge's ports.
          type: list
          elements: str
        external_ids:
          description: The bridge's C(external_ids).
          type: dict
        other_config:
          description: The bridge's C(other_config).
          type: dict
        flows:
          description:
            - Parsed C(ovs-ofctl dump-flows --no-stats) lines, C({"table", "priority", "cookie",
              "match", "actions", "raw"}), spelled canonically (OpenFlow 1.0 names).
          type: list
          elements: dict
    ports:
      description: Ports sorted by name.
      type: list
      elements: dict
      contains:
        name:
          description: Port name.
          type: str
        bridge:
          description: Name of the bridge holding the port.
          type: str
        tag:
          description: Access VLAN tag, V(null) when unset.
          type: int
        trunks:
          description: Trunk VLANs.
          type: list
          elements: int
        interfaces:
          description: Names of the port's interfaces.
          type: list
          elements: str
        external_ids:
          description: The port's C(external_ids).
          type: dict
        other_config:
          description: The port's C(other_config) (Neutron keeps net_uuid, tag, ... there).
          type: dict
    interfaces:
      description: Interfaces sorted by name.
      type: list
      elements: dict
      contains:
        name:
          description: Interface name.
          type: str
        type:
          description: V(internal), V(patch), empty for a system device, ...
          type: str
        external_ids:
          description: C(iface-id), C(attached-mac), C(iface-status), ...
          type: dict
        ofport:
          description: OpenFlow port number, V(null) when unset.
          type: int
        mac_in_use:
          description: MAC address, V(null) when unset.
          type: str
        options:
          description: Interface options (C(peer) of patch ports, ...).
          type: dict
        error:
          description: The interface's C(error) column, V(null) when none.
          type: str
    errors:
      description: What could not be read (same fields as RV(namespaces[].errors)).
      type: list
      elements: dict
l3_agent_state:
  description: The L3 agent's state files under O(state_path).
  returned: success
  type: dict
  contains:
    state_path:
      description: The directory read.
      type: str
      sample: /var/lib/neutron
    state_path_source:
      description:
        - Where O(state_path) came from, V(option), the configuration file that set it
          (V(/etc/neutron/l3_agent.ini), V(/etc/neutron/neutron.conf)) or V(default).
      type: str
      sample: /etc/neutron/neutron.conf
    fip_linklocal_networks:
      description:
        - C(fip-linklocal-networks) lines C(<router_id>,<cidr>); status V(ok), V(missing) or
          V(error).
      type: dict
      sample: {"status": "ok", "entries": [{"router_id": "b0853bf0-1485-48a3-8d0d-f4f684bca6f8",
               "cidr": "169.254.127.192/31"}]}
    fip_priorities:
      description:
        - C(fip-priorities) lines C(<fip>,<priority>) (priority an integer); status V(ok),
          V(missing) or V(error).
      type: dict
      sample: {"status": "ok", "entries": [{"fip": "172.30.89.152", "priority": 48835}]}
errors:
  description:
    - Node-level problems (namespace listing, iptables binaries, state files), with the same
      fields as RV(namespaces[].errors).
  returned: success
  type: list
  elements: dict
"""

import json  # noqa: E402
import os  # noqa: E402
import threading  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.dvr_collect import (  # noqa: E402
    ARGUMENT_SPEC,
    DvrCollectError,
    collect_node,
)


def make_runner(module):
    """A thread-safe (argv -> (rc, stdout, stderr)) runner on module.run_command."""
    paths = {}
    lock = threading.Lock()

    def resolve(name):
        with lock:
            if name not in paths:
                paths[name] = module.get_bin_path(name)
            return paths[name]

    def run(argv):
        argv = list(argv)
        if "/" in argv[0]:
            if not os.access(argv[0], os.X_OK):
                return 127, "", "%s: No such file or not executable" % argv[0]
        else:
            found = resolve(argv[0])
            if found is None:
                return 127, "", "%s: command not found" % argv[0]
            argv[0] = found
        return module.run_command(argv, expand_user_and_vars=False, errors="surrogate_then_replace")

    return run


def _list_param(value):
    """Accept a JSON list given as one k=v string (ad hoc ``-a 'namespaces=["qrouter-*"]'``)."""
    if value and len(value) == 1 and value[0].strip().startswith("["):
        try:
            parsed = json.loads(value[0])
        except ValueError:
            return value
        if isinstance(parsed, list):
            return [str(item) for item in parsed]
    return value


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    for key, spec in ARGUMENT_SPEC.items():
        if spec["type"] == "list":
            params[key] = _list_param(params[key])
    if params["parallel"] < 1:
        module.fail_json(msg="parallel must be at least 1")

    options = dict((key, params[key]) for key in ARGUMENT_SPEC)
    if not params["command_prefix"]:
        options["ip_path"] = module.get_bin_path("ip", required=True)
    ovs_prefix = params["ovs_command_prefix"]
    if ovs_prefix is None:
        ovs_prefix = params["command_prefix"]
    if not ovs_prefix:
        options["ovs_vsctl_path"] = module.get_bin_path("ovs-vsctl") or "ovs-vsctl"
        options["ovs_ofctl_path"] = module.get_bin_path("ovs-ofctl") or "ovs-ofctl"

    try:
        document = collect_node(make_runner(module), options)
    except DvrCollectError as exc:
        module.fail_json(msg=str(exc))

    module.exit_json(changed=False, **document)


if __name__ == "__main__":
    main()
