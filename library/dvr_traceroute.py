# -*- coding: utf-8 -*-
# Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
---
module: dvr_traceroute
short_description: TTL sweep (all TTLs at once) from a host or a VM's network namespace
author:
  - dvr-verify authors
description:
  - Sends one probe per TTL 1..O(max_hops) to every destination of O(destinations), all at
    once (ICMP echo or UDP to ports 33434 + TTL - 1), and returns one
    C(dvr_verify.probes.Traceroute) dict per destination.
  - Hop C(ttl) is the address that answered the probe with that TTL (ICMP time exceeded, or the
    destination's echo reply or port unreachable), V(null) for a silent hop; the hops end at the
    first TTL the destination itself answered, else at O(max_hops).
  - C(source_ip) is the source address the kernel chooses towards the destination (routes and
    policy rules, read by connecting a UDP socket, which sends nothing); C(vm) is O(vm), as
    given.
  - With O(netns) the module runs inside that network namespace (in the lab, a VM's namespace).
    It calls setns(2) through ctypes in its main thread before scapy is imported and before any
    other thread exists - the simplest reliable way (no re-executed interpreter, no payload to
    ship again); scapy reads interfaces and routes over rtnetlink of the new namespace.
  - With O(vms) the sweeps of many VMs run at once in one module call (one per compute node);
    scapy is imported once, then a forked child per VM enters that VM's namespace and sweeps;
    the probes carry the source address the kernel chooses in that namespace.
  - Only reads; RV(changed) is always V(false).
version_added: "0.1.0"
options:
  vm:
    description:
      - The name of the VM (or host) the sweep runs from, copied into each result. Required
        unless O(vms) is given.
    type: str
  vms:
    description:
      - VMs to sweep from, all at once (at most 128), as C(name) to network namespace; instead
        of O(vm) and O(netns).
    type: dict
  destinations:
    description: IPv4 destinations (at most 16).
    type: list
    elements: str
    required: true
  max_hops:
    description: Highest TTL sent (1 to 30).
    type: int
    default: 8
  protocol:
    description: V(icmp) (echo requests) or V(udp) (to ports 33434 + TTL - 1, like traceroute).
    type: str
    choices: [icmp, udp]
    default: icmp
  timeout:
    description: Seconds to wait for answers after the last probe (0.1 to 30).
    type: float
    default: 2.0
attributes:
  check_mode:
    details: The probe changes nothing.
  platform:
    details: Linux hosts (raw sockets).
notes:
  - Routers rate-limit ICMP errors (Linux - a burst of 6 per peer, then 1 per second); with
    many destinations through the same routers a hop may stay silent. Keep O(destinations) few.
  - For Nova VMs (no scapy inside) run the image's C(traceroute -n) over SSH and parse it with
    C(dvr_verify.probes.parse_traceroute) instead.
extends_documentation_fragment:
  - action_common_attributes
  - dvr_probe
  - dvr_probe.netns
"""

EXAMPLES = r"""
- name: Trace from every lab VM of this compute at once
  dvr_traceroute:
    vms: {vm-1: vm-vm-1, vm-2: vm-vm-2}
    destinations: [172.30.0.1]

- name: Trace from the lab VM's namespace to the external gateway and beyond
  dvr_traceroute:
    vm: vm-1
    netns: vm-lab-1
    destinations: [172.30.0.1, 172.30.0.10]
    max_hops: 6
  register: trace
"""

RETURN = r"""
traceroutes:
  description: One C(Traceroute) dict per destination, in the order of O(destinations).
  returned: success
  type: list
  elements: dict
  contains:
    vm:
      description: O(vm).
      type: str
      sample: vm-1
    source_ip:
      description: The source address the kernel chooses towards the destination.
      type: str
      sample: 10.0.111.251
    destination:
      description: The destination.
      type: str
      sample: 172.30.0.1
    hops:
      description: C({"ttl", "address"}) per TTL from 1; C(address) V(null) for a silent hop.
      type: list
      elements: dict
      sample: [{"ttl": 1, "address": "10.0.111.1"}, {"ttl": 2, "address": "169.254.127.193"},
               {"ttl": 3, "address": "172.30.0.1"}]
errors:
  description: With O(vms), the VMs whose sweep failed and why (their traceroutes are missing).
  returned: success
  type: dict
  sample: {"vm-2": "network namespace vm-vm-2: No such file or directory"}
scapy_version: {description: "The scapy version used.", returned: success, type: str, sample: 2.8.0}
elapsed: {description: "Seconds the sweep took.", returned: success, type: float, sample: 0.05}
"""

from ansible.module_utils.dvr_probe_common import (  # noqa: E402
    LIMITS,
    ProbeError,
    ipv4_list,
    traceroute,
    traceroute_in_namespaces,
)
from ansible.module_utils.dvr_probe_module import pick, run_probe  # noqa: E402

OPTIONS = dict(
    vm=dict(type="str"),
    vms=dict(type="dict"),
    destinations=dict(type="list", elements="str", required=True),
    max_hops=dict(type="int", default=8, bounds=(1, LIMITS["trace_max_hops"])),
    protocol=dict(type="str", choices=["icmp", "udp"], default="icmp"),
    timeout=dict(type="float", default=2.0, bounds=(0.1, LIMITS["timeout"])),
)


def _vms(mapping):
    """O(vms) as [{"name", "netns"}], checked: 1 to LIMITS["trace_vms"], each with a netns."""
    if not 1 <= len(mapping) <= LIMITS["trace_vms"]:
        raise ProbeError("vms: give 1 to %d VMs" % LIMITS["trace_vms"])
    for name, netns in mapping.items():
        if not netns:
            raise ProbeError("vms: VM %s has no network namespace" % name)
    return [{"name": str(name), "netns": str(netns)} for name, netns in sorted(mapping.items())]


def _check(p: dict) -> dict:
    """The arguments of `_probe`: the sweep from O(vm), or from each of O(vms)."""
    destinations = ipv4_list("destinations", p["destinations"], LIMITS["trace_destinations"])
    vms = _vms(p["vms"]) if p["vms"] is not None else None
    return dict(
        pick(p, "vm", "max_hops", "protocol", "timeout"), vms=vms, destinations=destinations
    )


def _probe(vm: str, vms: list | None, destinations: list, **sweep: object) -> dict:
    """The module's traceroutes and errors."""
    if vms is None:
        return {"traceroutes": traceroute(vm, destinations, **sweep), "errors": {}}
    return traceroute_in_namespaces(vms, destinations, **sweep)


def main():
    run_probe(
        OPTIONS,
        _check,
        _probe,
        failure="traceroute failed",
        required_one_of=[("vm", "vms")],
        mutually_exclusive=[("vm", "vms"), ("vms", "netns")],
    )


if __name__ == "__main__":
    main()
