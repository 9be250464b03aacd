# Apache-2.0
"""Documentation the scapy probe modules share (their extends_documentation_fragment)."""

from __future__ import annotations


class ModuleDocFragment:
    """``dvr_probe``: every probe module; ``dvr_probe.netns``: those with the netns option;
    ``dvr_probe.capture_stop``: those that capture (module_utils/dvr_probe_module.py
    CAPTURE_STOP_SPEC).

    The attribute descriptions come from ``action_common_attributes`` (listed too).
    """

    DOCUMENTATION = r"""
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
    details: The probes change nothing, so there is no diff.
  platform:
    platforms: posix
    details: Linux probe hosts (raw and packet sockets).
notes:
  - Needs root (CAP_NET_RAW) and scapy for the interpreter Ansible uses on the probe host.
requirements:
  - scapy >= 2.5.0 (tested with 2.8.0)
  - Python >= 3.8
"""

    # module_utils/dvr_probe_module.py NETNS_SPEC
    NETNS = r"""
options:
  netns:
    description:
      - Network namespace to probe from, V(<name>) of C(ip netns) or an absolute path such as
        V(/proc/<pid>/ns/net). The module enters it with setns(2) before importing scapy.
    type: str
"""

    # module_utils/dvr_probe_module.py CAPTURE_STOP_SPEC
    CAPTURE_STOP = r"""
options:
  stop_file:
    description:
      - A file whose appearance ends the capture O(stop_grace) seconds later. Whoever makes the
        traffic creates it once every frame is sent, so the window follows when the senders
        really ran, however slow the machine; the timeout is then only the upper bound. The
        caller removes it.
    type: path
  stop_grace:
    description: Seconds the capture goes on after O(stop_file) appears (0 to 30).
    type: float
    default: 2.0
"""
