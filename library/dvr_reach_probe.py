# -*- coding: utf-8 -*-
# Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
---
module: dvr_reach_probe
short_description: ICMP echo, TCP connect and don't-fragment echo to many addresses at once
author:
  - dvr-verify authors
description:
  - For every address of O(targets), concurrently - ICMP echo requests (O(count) each); a TCP
    connection to O(tcp_port) when given (O(tcp_count) each); echo requests with Don't Fragment
    set and an IP total length of O(df_size) when given (O(count) each, proves the path MTU).
  - Returns one C(dvr_verify.probes.Reachability) dict per target and kind (V(icmp), V(tcp),
    V(icmp_df)) with the TTL of the first echo reply.
  - ICMP is built with scapy and sent through a raw IP socket, so the kernel routes and resolves
    the next hop exactly as for C(ping); replies are matched by address, identifier and sequence
    until O(timeout) seconds after the last request (the wait ends early once every request is
    answered). An ICMP error (for example fragmentation needed) is not an answer.
  - TCP uses the kernel's C(connect()) with O(tcp_timeout) (SYN, SYN-ACK, ACK, then close), not
    a crafted SYN, so no stray RST is needed and stateful firewalls see a normal connection; a
    completed handshake counts as an answer, a refusal (RST) or a timeout does not. Its TTL is
    not observable and is returned as V(null).
  - Only reads; RV(changed) is always V(false).
version_added: "0.1.0"
options:
  targets:
    description: IPv4 addresses to probe (at most 256; duplicates are probed once).
    type: list
    elements: str
    required: true
  count:
    description: Echo requests per target and kind (0 to 20; V(0) skips ICMP and O(df_size)).
    type: int
    default: 3
  timeout:
    description: Seconds to wait for echo replies after the last request (0.1 to 30).
    type: float
    default: 2.0
  tcp_port:
    description: TCP port to connect to on every target (1 to 65535); none when omitted.
    type: int
  tcp_count:
    description: Connection attempts per target (1 to 5).
    type: int
    default: 1
  tcp_timeout:
    description: Seconds each connection attempt may take (0.1 to 30).
    type: float
    default: 3.0
  df_size:
    description:
      - IP total length of the don't-fragment echo requests (68 to 9216), normally the external
        network's MTU; none when omitted.
    type: int
attributes:
  check_mode:
    details: The probe only sends echo requests and opens connections.
notes:
  - Cost is about O(timeout) (or O(tcp_timeout)) whatever the number of targets; up to 32 TCP
    connections run in parallel.
extends_documentation_fragment:
  - action_common_attributes
  - dvr_probe
  - dvr_probe.netns
"""

EXAMPLES = r"""
- name: Ping, SSH port and path MTU of every floating IP
  dvr_reach_probe:
    targets: "{{ floating_ips }}"
    count: 3
    tcp_port: 22
    df_size: 1500
  register: reach

- name: From the lab's probe namespace
  dvr_reach_probe:
    netns: lab-probe
    targets: [172.30.89.152]
    tcp_port: 8000
"""

RETURN = r"""
reachability:
  description:
    - C(Reachability) dicts, per target (in the order of O(targets)) V(icmp), then V(tcp), then
      V(icmp_df).
  returned: success
  type: list
  elements: dict
  contains:
    target:
      description: The address probed.
      type: str
      sample: 172.30.89.152
    kind:
      description: V(icmp), V(tcp) or V(icmp_df).
      type: str
      sample: icmp
    port:
      description: O(tcp_port) for V(tcp), else V(null).
      type: int
      sample: null
    sent:
      description: Requests (or connection attempts) made.
      type: int
      sample: 3
    received:
      description: Echo replies (or completed connections) received.
      type: int
      sample: 3
    ttl:
      description: IP TTL of the first echo reply; V(null) for V(tcp) or when none arrived.
      type: int
      sample: 62
send_errors:
  description:
    - Per target, requests the local kernel refused to send (for example V(Message too long)
      when O(df_size) exceeds the outgoing interface's MTU); they count as sent, not received.
  returned: success
  type: dict
  sample: {"172.30.89.152": ["seq 32768: Message too long"]}
scapy_version: {description: "The scapy version used.", returned: success, type: str, sample: 2.8.0}
elapsed: {description: "Seconds the probe took.", returned: success, type: float, sample: 0.12}
"""

from ansible.module_utils.dvr_probe_common import (  # noqa: E402
    LIMITS,
    ProbeError,
    ipv4_list,
    reach_probe,
)
from ansible.module_utils.dvr_probe_module import pick, run_probe  # noqa: E402

OPTIONS = dict(
    targets=dict(type="list", elements="str", required=True),
    count=dict(type="int", default=3, bounds=(0, LIMITS["reach_count"])),
    timeout=dict(type="float", default=2.0, bounds=(0.1, LIMITS["timeout"])),
    tcp_port=dict(type="int", bounds=(1, 65535)),
    tcp_count=dict(type="int", default=1, bounds=(1, LIMITS["tcp_count"])),
    tcp_timeout=dict(type="float", default=3.0, bounds=(0.1, LIMITS["timeout"])),
    df_size=dict(type="int", bounds=(LIMITS["df_size_min"], LIMITS["df_size_max"])),
)


def _check(p: dict) -> dict:
    """The arguments of `reach_probe`."""
    if p["count"] == 0 and not p["tcp_port"]:
        raise ProbeError("nothing to probe: count=0 and no tcp_port")
    return dict(
        pick(p, "count", "timeout", "tcp_port", "tcp_count", "tcp_timeout"),
        targets=ipv4_list("targets", p["targets"], LIMITS["reach_targets"]),
        df_size=p["df_size"] if p["count"] else None,
    )


def _probe(**kwargs: object) -> dict:
    """The module's reachability and send_errors."""
    results, send_errors = reach_probe(**kwargs)
    return {"reachability": results, "send_errors": send_errors}


def main():
    run_probe(OPTIONS, _check, _probe, failure="reachability probe failed")


if __name__ == "__main__":
    main()
