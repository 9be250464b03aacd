"""A run's settings (run.json): checked once, up front; the probe plan computed from the run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from capture_loader import LAB29

from dvr_verify.provision import Provisioned, ProvisionedVM, UnboundFIP
from dvr_verify.rundir import (
    RunSettings,
    SettingsError,
    load_settings,
    probe_plan,
    trace_destinations,
)

EXT = "23ee3d3c-4d08-4331-8c9e-14579ebe3485"  # the capture's external network


def test_settings_as_ansible_passes_them() -> None:
    """-e values arrive as strings: numbers and flags are converted, each once."""
    got = RunSettings.from_dict(
        {"run_id": "r", "cloud": "c", "computes": [["node-12", "node-12.example.local"]],
         "ha": "True", "vms_per_compute": "2", "unbound_fips": "0", "other": "ignored"}
    )  # fmt: skip
    assert (got.ha, got.vms_per_compute, got.unbound_fips) == (True, 2, 0)
    assert got.computes == [("node-12", "node-12.example.local")]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "vms_per_compute",
            "abc",
            r"dvr_verify_vms_per_compute: a whole number >= 1 \(got 'abc'\)",
        ),
        ("vms_per_compute", 0, r"dvr_verify_vms_per_compute: a whole number >= 1"),
        ("unbound_fips", -1, r"dvr_verify_unbound_fips: a whole number >= 0"),
        ("ha", "maybe", r"dvr_verify_ha: true or false \(got 'maybe'\)"),
        ("abandon_after", "59", r"dvr_verify_abandon_after: a whole number >= 600"),
        ("keep", "perhaps", r"dvr_verify_keep: true or false"),
        ("trace_destinations", ["gw"], r"dvr_verify_trace_destinations: 'gw' is not an IP"),
        (
            "trace_destinations",
            ["2001:db8::2"],
            r"dvr_verify_trace_destinations: '2001:db8::2' is not an IPv4 address",
        ),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_variable(key: str, value, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        RunSettings.from_dict({"run_id": "r", "cloud": "c", key: value})


def test_a_run_records_whether_it_is_kept_and_when_runs_are_abandoned() -> None:
    default = RunSettings.from_dict({"run_id": "r", "cloud": "c"})
    assert (default.keep, default.abandon_after) == (False, 3600)
    got = RunSettings.from_dict(
        {"run_id": "r", "cloud": "c", "keep": "True", "abandon_after": "900"}
    )
    assert (got.keep, got.abandon_after) == (True, 900)


def test_missing_run_json_says_who_writes_it(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"run.json: missing \(the role's setup writes it\)"):
        load_settings(tmp_path)


def test_the_traceroute_goes_to_the_first_ipv4_gateway() -> None:
    subnets = [
        {"network_id": EXT, "ip_version": 6, "gateway_ip": "2001:db8::2"},
        {"network_id": EXT, "ip_version": 4, "gateway_ip": None},
        {"network_id": "other", "ip_version": 4, "gateway_ip": "10.0.0.1"},
        {"network_id": EXT, "ip_version": 4, "gateway_ip": "172.24.4.1"},
    ]
    assert trace_destinations(subnets, EXT) == ["172.24.4.1"]
    with pytest.raises(SettingsError, match="no IPv4 subnet with a gateway"):
        trace_destinations(subnets[:3], EXT)


def _vm(name: str, host: str, fip: str | None) -> ProvisionedVM:
    return ProvisionedVM(name, host, f"port-{name}", "dev", "fa:16:3e:00:00:01", "10.0.111.5",
                         24, "10.0.111.1", 1450, fip, "id" if fip else None)  # fmt: skip


def test_the_probe_plan_groups_vms_by_compute(tmp_path: Path) -> None:
    shutil.copytree(LAB29 / "api", tmp_path / "api")
    made = Provisioned(
        "r", "t", external_network_id=EXT,
        vms=[_vm("b", "node-16", "172.30.89.2"), _vm("a", "node-12", "172.30.89.1"),
             _vm("nofip", "node-16", None)],
        unbound=[UnboundFIP("p", "10.0.111.9", "172.30.89.3", "f")],
    )  # fmt: skip
    plan = probe_plan(tmp_path, made, RunSettings("r", "c"))
    assert plan["vms_by_node"] == [["node-12", ["a"]], ["node-16", ["b", "nofip"]]]
    # lab VMs' namespaces follow their ports (as Nova's taps), so two runs never share one
    assert plan["netns_of"] == {"a": "vm-port-a", "b": "vm-port-b", "nofip": "vm-port-nofip"}
    assert plan["arp_targets"] == ["172.30.89.2", "172.30.89.1", "172.30.89.3"]
    assert plan["reach_targets"] == ["172.30.89.2", "172.30.89.1"]
    assert (plan["trace_to"], plan["df_size"]) == (["172.30.0.1"], 1450)
    chosen = probe_plan(tmp_path, made, RunSettings("r", "c", trace_destinations=["203.0.113.1"]))
    assert chosen["trace_to"] == ["203.0.113.1"]
    assert json.dumps(plan)
