# -*- coding: utf-8 -*-
# Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
---
module: dvr_arp_probe
short_description: ARP who-has for a list of addresses in one window, every reply reported
author:
  - dvr-verify authors
description:
  - Sends ARP requests (who-has) for every address of O(targets) out of O(interface) and
    reports every ARP reply heard, per target, in the shape of C(dvr_verify.probes.ArpProbe).
  - All requests go out on one packet socket (not promiscuous) that is opened, with a BPF filter
    C(arp), before the first request, so a reply cannot be missed; every reply arriving until
    O(timeout) seconds after the last request is kept. Several MACs answering for one address
    (a floating IP plumbed twice) are all reported, duplicates included, in arrival order.
  - The sender address is always an address configured on O(interface) - O(source_ip), or per
    target the interface address whose connected subnet holds the target (else the first one).
    A spoofed sender would poison the neighbour caches of the answering hosts, and a V(0.0.0.0)
    sender (DAD probe) gets no proxy-ARP reply from Linux, which is what answers for a Neutron
    DVR floating IP on the fg- device.
  - Only reads; RV(changed) is always V(false).
version_added: "0.1.0"
options:
  interface:
    description: The interface to send from and listen on (in O(netns) if given).
    type: str
    required: true
  targets:
    description: IPv4 addresses to resolve (at most 1024; duplicates are probed once).
    type: list
    elements: str
    required: true
  source_ip:
    description:
      - Sender protocol address of the requests; must be configured on O(interface), else the
        module fails.
      - Default, per target, the interface address whose connected subnet holds the target,
        else the interface's first IPv4 address.
    type: str
  count:
    description: Requests per target (rounds over all targets), 1 to 10.
    type: int
    default: 2
  interval:
    description: Seconds between rounds (0 to 30); replies are collected meanwhile.
    type: float
    default: 0.2
  timeout:
    description: Seconds to keep listening after the last request (0.1 to 30).
    type: float
    default: 2.0
attributes:
  check_mode:
    details: The probe sends only ARP requests and changes nothing.
notes:
  - Cost is one window (O(count) x O(interval) + O(timeout)) whatever the number of targets.
  - Linux delays proxy-ARP replies to broadcast requests by up to C(proxy_delay) (default 0.8 s;
    Neutron sets 0 on fg- devices); keep O(timeout) above it.
extends_documentation_fragment:
  - action_common_attributes
  - dvr_probe
  - dvr_probe.netns
"""

EXAMPLES = r"""
- name: Who answers ARP for the floating IPs on the external network
  dvr_arp_probe:
    interface: eth1
    targets: "{{ floating_ips }}"
  register: arp

- name: From the lab's probe namespace, with an explicit sender address
  dvr_arp_probe:
    netns: lab-probe
    interface: probe0
    source_ip: 172.30.0.10
    targets: [172.30.89.152, 172.30.89.140]
    count: 3
    timeout: 1.5
"""

RETURN = r"""
arp:
  description: One C(ArpProbe) dict per target, in the order of O(targets).
  returned: success
  type: list
  elements: dict
  contains:
    target:
      description: The address asked for.
      type: str
      sample: 172.30.89.152
    interface:
      description: O(interface).
      type: str
      sample: eth1
    sender_ip:
      description: The sender address of the requests (configured on O(interface)).
      type: str
      sample: 172.30.0.10
    replies:
      description:
        - Every reply, in arrival order, C({"target", "mac", "sender_ip"}); C(mac) is the ARP
          sender hardware address (lower case), C(sender_ip) the address it claims.
      type: list
      elements: dict
      sample: [{"target": "172.30.89.152", "mac": "fa:16:3e:72:34:1b",
                "sender_ip": "172.30.89.152"}]
    sent:
      description: Requests sent for this target (O(count)).
      type: int
      sample: 2
scapy_version: {description: "The scapy version used.", returned: success, type: str, sample: 2.8.0}
elapsed: {description: "Seconds the probe took.", returned: success, type: float, sample: 2.21}
"""

from ansible.module_utils.dvr_probe_common import LIMITS, arp_probe, ipv4_list  # noqa: E402
from ansible.module_utils.dvr_probe_module import pick, run_probe  # noqa: E402

OPTIONS = dict(
    interface=dict(type="str", required=True),
    targets=dict(type="list", elements="str", required=True),
    source_ip=dict(type="str"),
    count=dict(type="int", default=2, bounds=(1, LIMITS["arp_count"])),
    interval=dict(type="float", default=0.2, bounds=(0.0, LIMITS["timeout"])),
    timeout=dict(type="float", default=2.0, bounds=(0.1, LIMITS["timeout"])),
)


def _check(p: dict) -> dict:
    """The arguments of `arp_probe`."""
    targets = ipv4_list("targets", p["targets"], LIMITS["arp_targets"])
    return dict(pick(p, "interface", "source_ip", "count", "timeout", "interval"), targets=targets)


def _probe(interface: str, **kwargs: object) -> dict:
    """The module's arp results."""
    return {"arp": arp_probe(interface, **kwargs)}


def main():
    run_probe(OPTIONS, _check, _probe, failure="ARP probe on %(interface)s failed")


if __name__ == "__main__":
    main()
