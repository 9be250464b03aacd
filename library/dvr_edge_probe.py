# -*- coding: utf-8 -*-
# Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
---
module: dvr_edge_probe
short_description: Every probe of the probe host at once - capture, ARP and reachability
author:
  - dvr-verify authors
description:
  - What M(dvr_capture), M(dvr_arp_probe) and M(dvr_reach_probe) do, in one process (one scapy
    import, one Ansible task) - the capture on O(interface) starts first (in a thread); once it
    listens, O(ready_file) is written and the ARP probe of O(arp_targets) and the reachability
    probe of O(reach_targets) run at the same time; the module returns when the capture ends
    (O(capture_count) frames, O(stop_grace) seconds after O(stop_file) appeared, or at the latest
    O(capture_timeout) seconds).
  - Meant to run with Ansible C(async) while the VMs send traffic to the probe host (after
    O(ready_file) appears); the results have the shapes of the three modules' results.
  - Only reads and sends bounded probes; RV(changed) is always V(false).
version_added: "0.2.0"
options:
  interface:
    description: The probe host's interface on the external network (an Ethernet device).
    type: str
    required: true
  capture_filter:
    description: BPF filter of the capture (tcpdump syntax, compiled with libpcap).
    type: str
    default: ip
  capture_timeout:
    description: Seconds to capture at most (0.5 to 600).
    type: float
    default: 10.0
  capture_count:
    description: Stop the capture after this many frames matching O(capture_filter) (1 to 10000).
    type: int
    default: 500
  ready_file:
    description: A file written (with the module's process id) once the capture listens.
    type: path
  arp_targets:
    description: Addresses to ARP for, all in one window (at most 1024); none when empty.
    type: list
    elements: str
    default: []
  arp_count:
    description: ARP requests per target (1 to 10).
    type: int
    default: 2
  arp_timeout:
    description: Seconds to keep collecting ARP replies after the last request (0.1 to 30).
    type: float
    default: 1.0
  reach_targets:
    description: Addresses to ping, ping with don't-fragment and connect to (at most 256).
    type: list
    elements: str
    default: []
  count:
    description: Echo requests per reach target and kind (0 to 20).
    type: int
    default: 2
  timeout:
    description: Seconds to wait for echo replies after the last request (0.1 to 30).
    type: float
    default: 2.0
  tcp_port:
    description: TCP port to connect to on every reach target; none when omitted.
    type: int
  tcp_timeout:
    description: Seconds each connection attempt may take (0.1 to 30).
    type: float
    default: 3.0
  df_size:
    description: IP total length of the don't-fragment echo requests (68 to 9216); none if omitted.
    type: int
attributes:
  check_mode:
    details: The module only listens and sends bounded probes.
requirements:
  - libpcap (filter compilation)
extends_documentation_fragment:
  - action_common_attributes
  - dvr_probe
  - dvr_probe.capture_stop
"""

EXAMPLES = r"""
- name: Capture the VMs' echo requests, ARP for and reach every floating IP
  dvr_edge_probe:
    interface: eth1
    capture_filter: icmp[icmptype] == icmp-echo and dst host 172.30.0.10
    capture_count: 6
    capture_timeout: 8
    ready_file: /tmp/dvr-edge.ready
    arp_targets: "{{ floating_ips }}"
    reach_targets: "{{ floating_ips }}"
    tcp_port: 22
    df_size: 1500
  async: 40
  poll: 0
  register: edge_job
"""

RETURN = r"""
frames:
  description: The captured IPv4 frames (C(CapturedFrame) dicts), as M(dvr_capture) returns them.
  returned: success
  type: list
  elements: dict
  sample: [{"src_mac": "fa:16:3e:2c:1c:fd", "dst_mac": "b2:2e:72:48:7f:b8",
            "src_ip": "172.30.89.158", "dst_ip": "172.30.0.10", "protocol": "icmp"}]
seen:
  description: Frames the capture read.
  returned: success
  type: int
  sample: 6
truncated:
  description: V(true) when O(capture_count) frames ended the capture before O(capture_timeout).
  returned: success
  type: bool
  sample: true
arp:
  description: C(ArpProbe) dicts, as M(dvr_arp_probe) returns them.
  returned: success
  type: list
  elements: dict
  sample: [{"target": "172.30.89.158", "interface": "eth-ext", "sender_ip": "172.30.0.10",
            "replies": [{"target": "172.30.89.158", "mac": "fa:16:3e:2c:1c:fd",
                         "sender_ip": "172.30.89.158"}], "sent": 2}]
reachability:
  description: C(Reachability) dicts, as M(dvr_reach_probe) returns them.
  returned: success
  type: list
  elements: dict
  sample: [{"target": "172.30.89.158", "kind": "icmp", "port": null, "sent": 2, "received": 2,
            "ttl": 62}]
send_errors:
  description: Per reach target, requests the local kernel refused to send.
  returned: success
  type: dict
  sample: {}
scapy_version: {description: "The scapy version used.", returned: success, type: str, sample: 2.8.0}
elapsed: {description: "Seconds the module took.", returned: success, type: float, sample: 1.4}
"""

from ansible.module_utils.dvr_probe_common import (  # noqa: E402
    LIMITS,
    edge_probe,
    ethernet_interface,
    ipv4_list,
)
from ansible.module_utils.dvr_probe_module import CAPTURE_STOP_SPEC, run_probe  # noqa: E402

TIMEOUT = (0.1, LIMITS["timeout"])
OPTIONS = dict(
    interface=dict(type="str", required=True),
    capture_filter=dict(type="str", default="ip"),
    capture_timeout=dict(type="float", default=10.0, bounds=(0.5, LIMITS["capture_timeout"])),
    capture_count=dict(type="int", default=500, bounds=(1, LIMITS["capture_count"])),
    ready_file=dict(type="path"),
    **CAPTURE_STOP_SPEC,
    arp_targets=dict(type="list", elements="str", default=[]),
    arp_count=dict(type="int", default=2, bounds=(1, LIMITS["arp_count"])),
    arp_timeout=dict(type="float", default=1.0, bounds=TIMEOUT),
    reach_targets=dict(type="list", elements="str", default=[]),
    count=dict(type="int", default=2, bounds=(0, LIMITS["reach_count"])),
    timeout=dict(type="float", default=2.0, bounds=TIMEOUT),
    tcp_port=dict(type="int", bounds=(1, 65535)),
    tcp_timeout=dict(type="float", default=3.0, bounds=TIMEOUT),
    df_size=dict(type="int", bounds=(LIMITS["df_size_min"], LIMITS["df_size_max"])),
)


def _check(p: dict) -> dict:
    """The arguments of `edge_probe`: the three probes' (None for a probe without targets)."""
    iface = ethernet_interface(p["interface"])
    capture_args = dict(
        bpf=p["capture_filter"],
        timeout=p["capture_timeout"],
        count=p["capture_count"],
        ready_file=p["ready_file"],
        stop_file=p["stop_file"],
        stop_grace=p["stop_grace"],
    )
    arp_args = None
    if p["arp_targets"]:
        arp_args = dict(
            targets=ipv4_list("arp_targets", p["arp_targets"], LIMITS["arp_targets"]),
            count=p["arp_count"],
            timeout=p["arp_timeout"],
        )
    reach_args = None
    if p["reach_targets"] and (p["count"] or p["tcp_port"]):
        reach_args = dict(
            targets=ipv4_list("reach_targets", p["reach_targets"], LIMITS["reach_targets"]),
            count=p["count"],
            timeout=p["timeout"],
            tcp_port=p["tcp_port"],
            tcp_timeout=p["tcp_timeout"],
            df_size=p["df_size"] if p["count"] else None,
        )
    return dict(iface=iface, capture_args=capture_args, arp_args=arp_args, reach_args=reach_args)


def main():
    run_probe(OPTIONS, _check, edge_probe, failure="probe on %(interface)s failed", netns=False)


if __name__ == "__main__":
    main()
