# Apache-2.0
"""Documentation the scapy probe modules share (their extends_documentation_fragment)."""

from __future__ import annotations


class ModuleDocFragment:
    """``dvr_probe``: every probe module; ``dvr_probe.netns``: those with the netns option.

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
