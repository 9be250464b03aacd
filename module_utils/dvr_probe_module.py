# -*- coding: utf-8 -*-
# Apache-2.0
"""The main() of every scapy probe module, in the shape of openstack.cloud's
``OpenStackModule.__call__``: the shared options, the run (bounds, network namespace, scapy,
timing), the exits and the errors are here; a module passes only what is its own::

    def main():
        run_probe(OPTIONS, check, probe, failure="ARP probe on %(interface)s failed")

Runs on the probe host (Python 3.8+, standard library; scapy through dvr_probe_common).
"""

from __future__ import annotations

import copy
import time
from typing import Any, Callable, Dict, Mapping

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.dvr_probe_common import ProbeError, bounded, enter_netns, load_scapy

Spec = Mapping[str, Dict[str, Any]]
Params = Dict[str, Any]

# The shared option (documented once, doc_fragments/dvr_probe.py NETNS).
NETNS_SPEC = {"netns": {"type": "str"}}
# The capturing modules' end of capture (doc_fragments/dvr_probe.py CAPTURE_STOP): part of their
# OPTIONS, bounds included.
CAPTURE_STOP_SPEC = {
    "stop_file": {"type": "path"},
    "stop_grace": {"type": "float", "default": 2.0, "bounds": (0.0, 30.0)},
}


def argument_spec(options: Spec, netns: bool = True) -> Dict[str, Dict[str, Any]]:
    """The AnsibleModule argument_spec: `options` without their `bounds`, plus NETNS_SPEC."""
    spec = {name: {k: v for k, v in o.items() if k != "bounds"} for name, o in options.items()}
    if netns:
        spec.update(copy.deepcopy(NETNS_SPEC))
    return spec


def check_bounds(options: Spec, params: Params) -> None:
    """ProbeError for the first option (in `options` order) outside its `bounds` (min, max)."""
    for name, option in options.items():
        if "bounds" in option:
            bounded(name, params[name], *option["bounds"])


def pick(params: Params, *names: str) -> Params:
    """The options `names` of `params`, as keyword arguments of the same names."""
    return {name: params[name] for name in names}


def run_probe(
    options: Spec,
    check: Callable[[Params], Params],
    probe: Callable[..., Dict[str, Any]],
    failure: str,
    netns: bool = True,
    **module_kwargs: Any,
) -> None:
    """A probe module's main(): exit_json or fail_json, never returns.

    `options`: the module's own argument_spec entries, optionally with ``bounds=(min, max)``,
    checked first, in order. `check(params)`: the remaining validation (ProbeError), returns the
    keyword arguments of `probe`; both run before the `netns` option (if `netns`) is entered and
    scapy is loaded. `probe(**kwargs)`: the module's own result keys, to which ``changed``,
    ``scapy_version`` and ``elapsed`` are added. OSError or ValueError fail with
    ``"<failure % params>: <error> (needs root)"``. `module_kwargs` go to AnsibleModule.
    """
    module = AnsibleModule(
        argument_spec=argument_spec(options, netns), supports_check_mode=True, **module_kwargs
    )
    params = module.params
    try:
        check_bounds(options, params)
        kwargs = check(params)
        enter_netns(params.get("netns"))
        scapy = load_scapy()
        start = time.monotonic()
        result = probe(**kwargs)
    except ProbeError as exc:
        module.fail_json(msg=str(exc))
    except (OSError, ValueError) as exc:
        module.fail_json(msg="%s: %s (needs root)" % (failure % params, exc))
    module.exit_json(
        changed=False,
        **result,
        scapy_version=scapy.version,
        elapsed=round(time.monotonic() - start, 3),
    )
