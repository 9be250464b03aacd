# -*- coding: utf-8 -*-
# Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
---
module: dvr_capture
short_description: Sniff IPv4 frames on an interface for a bounded time, with MACs (tcpdump -e)
author:
  - dvr-verify authors
description:
  - Captures on O(interface) with the BPF filter O(filter) until O(count) frames were seen,
    O(stop_grace) seconds after O(stop_file) appeared, or at the latest O(timeout) seconds, and
    returns the IPv4 frames as C(dvr_verify.probes.CapturedFrame) dicts (source and destination
    MAC, source and destination IP, protocol) - the runbook's C(tcpdump -e -n) step.
  - Meant to run with Ansible C(async) while the VMs send traffic to the capture host; the caller
    groups the frames per VM into C(EgressCapture) (by source IP - the floating IP, or the router
    gateway IP for a VM without one - and by destination or time). O(ready_file) tells the caller
    when the socket is listening.
  - Only reads; RV(changed) is always V(false).
version_added: "0.1.0"
options:
  interface:
    description: The interface to capture on (an Ethernet device; not V(any)).
    type: str
    required: true
  filter:
    description: BPF filter (tcpdump syntax, compiled with libpcap); empty for every frame.
    type: str
    default: ip
  timeout:
    description: Seconds to capture (0.5 to 600).
    type: float
    default: 10.0
  count:
    description: Stop after this many frames matching O(filter) (1 to 10000).
    type: int
    default: 500
  promisc:
    description:
      - Put O(interface) in promiscuous mode while capturing (for frames not addressed to this
        host, for example on a mirror port). Off by default - the VMs send to the capture host.
    type: bool
    default: false
  ready_file:
    description:
      - A file written (with the module's process id) as soon as the capture socket is open;
        wait for it before sending traffic. The caller removes it.
    type: path
attributes:
  check_mode:
    details: The module only listens.
requirements:
  - libpcap (filter compilation)
extends_documentation_fragment:
  - action_common_attributes
  - dvr_probe
  - dvr_probe.netns
  - dvr_probe.capture_stop
"""

EXAMPLES = r"""
- name: Capture ICMP on the external interface while the VMs ping the probe host
  dvr_capture:
    interface: eth1
    filter: icmp and dst host 172.30.0.10
    timeout: 15
    ready_file: /tmp/dvr-capture.ready
  async: 30
  poll: 0
  register: capture_job

- name: Collect the frames
  ansible.builtin.async_status:
    jid: "{{ capture_job.ansible_job_id }}"
  register: capture
  until: capture.finished
  retries: 30
  delay: 1
"""

RETURN = r"""
frames:
  description: The captured IPv4 frames, in order, as C(CapturedFrame) dicts.
  returned: success
  type: list
  elements: dict
  contains:
    src_mac:
      description: Ethernet source, lower case.
      type: str
      sample: fa:16:3e:72:34:1b
    dst_mac:
      description: Ethernet destination, lower case.
      type: str
      sample: 02:91:65:a7:f0:6e
    src_ip:
      description: IPv4 source.
      type: str
      sample: 172.30.89.152
    dst_ip:
      description: IPv4 destination.
      type: str
      sample: 172.30.0.10
    protocol:
      description: V(icmp), V(tcp), V(udp), ... or V(ip-<number>).
      type: str
      sample: icmp
seen:
  description: Frames the capture read (matching O(filter); non-IPv4 ones are not returned).
  returned: success
  type: int
  sample: 12
truncated:
  description: V(true) when O(count) frames stopped the capture before O(timeout).
  returned: success
  type: bool
  sample: false
scapy_version: {description: "The scapy version used.", returned: success, type: str, sample: 2.8.0}
elapsed: {description: "Seconds the capture took.", returned: success, type: float, sample: 10.01}
"""

from ansible.module_utils.dvr_probe_common import (  # noqa: E402
    LIMITS,
    capture,
    ethernet_interface,
)
from ansible.module_utils.dvr_probe_module import CAPTURE_STOP_SPEC, pick, run_probe  # noqa: E402

OPTIONS = dict(
    interface=dict(type="str", required=True),
    filter=dict(type="str", default="ip"),
    timeout=dict(type="float", default=10.0, bounds=(0.5, LIMITS["capture_timeout"])),
    count=dict(type="int", default=500, bounds=(1, LIMITS["capture_count"])),
    ready_file=dict(type="path"),
    **CAPTURE_STOP_SPEC,
    promisc=dict(type="bool", default=False),
)


def _check(p: dict) -> dict:
    """The arguments of `capture`."""
    ethernet_interface(p["interface"])
    names = ("interface", "timeout", "count", "ready_file", "promisc", "stop_file", "stop_grace")
    return dict(pick(p, *names), bpf=p["filter"])


def _probe(interface: str, **kwargs: object) -> dict:
    """The module's frames, seen and truncated."""
    frames, seen, truncated = capture(interface, **kwargs)
    return {"frames": frames, "seen": seen, "truncated": truncated}


def main():
    run_probe(OPTIONS, _check, _probe, failure="capture on %(interface)s failed")


if __name__ == "__main__":
    main()
