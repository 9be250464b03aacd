"""The run's VM plan (the role's --vm NAME=HOST[:nofip] specs) and its resources.json."""

from __future__ import annotations

import json

import pytest

from dvr_verify.provision import PlannedVM, Provisioned, ProvisionedVM, UnboundFIP, plan_vms


def test_vms_are_named_after_the_inventory_name_with_one_nofip_on_the_first_compute() -> None:
    computes = [("node-12", "node-12.example.local"), ("node-16", "node-16.example.local")]
    assert plan_vms(computes, 2) == [
        PlannedVM("node-12", "node-12.example.local", True),
        PlannedVM("node-12-1", "node-12.example.local", True),
        PlannedVM("node-16", "node-16.example.local", True),
        PlannedVM("node-16-1", "node-16.example.local", True),
        PlannedVM("nofip", "node-12.example.local", False),
    ]


def test_a_dotted_inventory_name_keeps_its_first_label() -> None:
    vms = plan_vms([("node-12.example.local", "compute-a")], 11)
    assert [vm.name for vm in vms][:2] == ["node-12", "node-12-1"]
    assert vms[10].name == "node-12-10" and vms[-1] == PlannedVM("nofip", "compute-a", False)


@pytest.mark.parametrize(("computes", "per_compute"), [([("n", "h")], 0), ([], 1)])
def test_a_plan_without_vms_is_refused_in_one_line(computes, per_compute) -> None:
    with pytest.raises(ValueError) as err:
        plan_vms(computes, per_compute)
    assert "\n" not in str(err.value)


def made() -> Provisioned:
    vm = ProvisionedVM(
        "c1", "node-12", "p1", "s1", "fa:16:3e:00:00:01", "10.0.111.5", 24, "10.0.111.1", 1450
    )
    vm.fip, vm.fip_id, vm.server_id = "172.30.0.5", "f1", "s1"
    bare = ProvisionedVM(
        "nofip", "node-12", "p2", "d2", "fa:16:3e:00:00:02", "10.0.111.6", 24, "10.0.111.1", 1450
    )
    return Provisioned(
        run_id="r1",
        tag="dvr-verify-run-r1",
        external_network_id="ext",
        router_id="r",
        backend="nova",
        ha=True,
        keypair="dvrv-r1",
        vms=[vm, bare],
        unbound=[UnboundFIP("p3", "10.0.111.7", "172.30.0.7", "f3")],
    )  # fmt: skip


def test_from_dict_inverts_as_dict_through_json() -> None:
    done = made()
    assert Provisioned.from_dict(json.loads(json.dumps(done.as_dict()))) == done


def test_from_dict_reads_an_older_resources_json_and_drops_what_ansible_added() -> None:
    data = {
        "run_id": "r0",
        "tag": "dvr-verify-run-r0",
        "router_id": "r",
        "vms": [
            {"name": "c1", "host": "node-12", "port_id": "p1", "device_id": "d1", "mac": "m",
             "ip": "10.0.111.5", "prefixlen": 24, "gateway": "10.0.111.1", "mtu": 1450,
             "fip": "172.30.0.5", "fip_id": "f1"}
        ],
        "vm_access": "netns",
    }  # fmt: skip
    done = Provisioned.from_dict(data)
    assert (done.backend, done.ha, done.keypair, done.unbound) == ("lab", False, "", [])
    assert done.vms[0].server_id is None and done.vms[0].fip == "172.30.0.5"
    assert "vm_access" not in done.as_dict()
