"""The VM backend registry, and what provision and cleanup ask of every backend."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import pytest

from dvr_verify import backends
from dvr_verify import provision as prov
from dvr_verify.backends.lab import LabBackend
from dvr_verify.backends.nova import NovaBackend


def test_the_registry_names_each_backend_by_its_name() -> None:
    assert prov.BACKENDS == ("lab", "nova")
    assert all(cls.name == name for name, cls in backends.BACKENDS.items())
    assert isinstance(backends.get_backend("lab"), LabBackend)
    spec = prov.NovaSpec(image_id="img", flavor_id="flv", public_key="k")
    assert backends.get_backend("nova", spec=spec).spec == spec


def test_an_unknown_backend_is_refused_in_one_line() -> None:
    with pytest.raises(prov.PreflightError, match="no VM backend 'ironic': use one of lab, nova"):
        backends.get_backend("ironic")


def test_nova_makes_no_vm_without_its_spec() -> None:
    with pytest.raises(ValueError, match="NovaSpec"):
        NovaBackend().prepare(SimpleNamespace(), prov.Provisioned(run_id="r1", tag="t"))


class OneLogConn:
    """Neutron and Nova in one call log; every list call answers `lists[method]`."""

    def __init__(self, lists: dict[str, list]) -> None:
        self.log: list[tuple] = []
        self.lists = lists
        self.network = self.compute = self

    def has_service(self, _name: str) -> bool:
        return False

    def __getattr__(self, method: str):
        def call(*args, **kw):
            self.log.append((method, *[getattr(a, "name", a) for a in args]))
            return list(self.lists.get(method, ()))

        return call


def test_cleanup_deletes_what_holds_a_resource_before_it() -> None:
    def named(name: str, **kw) -> SimpleNamespace:
        return SimpleNamespace(name=name, id=name, floating_ip_address=f"fip-{name}", **kw)

    interface = named(
        "if", device_owner="network:router_interface_distributed", fixed_ips=[{"subnet_id": "s"}]
    )
    conn = OneLogConn(
        {
            "ips": [named("f")],
            "ports": [interface],
            "routers": [named("r")],
            "networks": [named("n")],
            "security_groups": [named("g")],
        }
    )
    deleted = prov.cleanup(conn, "dvr-verify-run-r1")
    assert deleted == ["floating IP fip-f", "port if", "router r", "network n", "security group g"]
    assert [entry[0] for entry in conn.log] == [
        "ips", "delete_ip", "ports", "delete_port", "routers", "ports",
        "remove_interface_from_router", "update_router", "delete_router",
        "networks", "delete_network", "security_groups", "delete_security_group",
    ]  # fmt: skip


class RecordingBackend(LabBackend):
    """A backend of one's own: provision uses it for every VM."""

    name = "mine"

    def make_vm(self, conn, run, vm) -> str | None:
        return f"vm-of-{vm.port_id}"


def test_provision_makes_the_vms_with_the_backend_it_is_given() -> None:
    ids = itertools.count()

    class Network:
        def __getattr__(self, method: str):
            def call(*args, **kw):
                n = next(ids)
                return SimpleNamespace(
                    id=f"{method}-{n}", mtu=1450, gateway_ip="10.0.111.1",
                    mac_address="m", fixed_ips=[{"ip_address": "10.0.111.9"}],
                    floating_ip_address="172.30.0.9",
                )  # fmt: skip

            return call

    conn = SimpleNamespace(network=Network())
    vms = [prov.PlannedVM("c1", "node-12", False)]
    done = prov.provision(conn, "r1", vms, "ext", vm_backend=RecordingBackend())
    assert done.backend == "mine"
    assert done.vms[0].server_id == done.vms[0].device_id == f"vm-of-{done.vms[0].port_id}"
