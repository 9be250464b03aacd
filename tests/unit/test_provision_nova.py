"""The nova backend: what it asks Nova and Neutron for, and how it refuses or cleans up.

The fakes record calls; they stand for the API, not for Neutron's behaviour (the lab proves that).
"""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from dvr_verify import provision as prov


class Recorder:
    """Answers any create_*/set_tags/... call with an object carrying an id, and records it."""

    def __init__(self, name: str, log: list[tuple[str, str, dict]]) -> None:
        self.name, self.log, self.count = name, log, 0

    def _make(self, method: str, kw: dict) -> SimpleNamespace:
        self.count += 1
        self.log.append((self.name, method, kw))
        obj = SimpleNamespace(id=f"{method}-{self.count}", **kw)
        if method == "create_port":
            obj.mac_address = f"fa:16:3e:00:00:{self.count:02x}"
            obj.fixed_ips = [{"ip_address": f"10.0.111.{10 + self.count}"}]
        if method == "create_subnet":
            obj.gateway_ip = "10.0.111.1"
        if method == "create_network":
            obj.mtu = 1450
        if method == "create_ip":
            obj.floating_ip_address = f"172.30.0.{100 + self.count}"
        return obj

    def __getattr__(self, method: str):
        return lambda *args, **kw: self._make(method, kw)


def calls(log, method):
    return [kw for _, m, kw in log if m == method]


def nova_run(vms):
    log: list = []
    conn = SimpleNamespace(network=Recorder("network", log), compute=Recorder("compute", log))
    spec = prov.NovaSpec(image_id="img", flavor_id="flv", public_key="ssh-ed25519 AAAA x")
    done = prov.provision(conn, "r1", vms, "ext", nova=spec, unbound_fips=1)
    return done, log


def test_nova_boots_one_server_per_vm_on_its_host_on_a_tagged_port() -> None:
    vms = [prov.PlannedVM("c1", "node-12", True), prov.PlannedVM("nofip", "node-12", False)]
    done, log = nova_run(vms)
    servers = calls(log, "create_server")
    assert [s["availability_zone"] for s in servers] == ["nova:node-12", "nova:node-12"]
    assert all(s["key_name"] == "dvrv-r1" and s["image_id"] == "img" for s in servers)
    assert all(s["metadata"] == {"dvr-verify": "dvr-verify-run-r1"} for s in servers)
    assert all(s["config_drive"] is True for s in servers)
    ports = calls(log, "create_port")
    # Nova binds the VM ports: no binding host, no device_owner set by us
    assert all("binding_host_id" not in p and "device_owner" not in p for p in ports)
    assert [s["networks"] for s in servers] == [[{"port": vm.port_id}] for vm in done.vms]
    assert calls(log, "create_subnet")[0]["enable_dhcp"] is True  # cirros asks DHCP
    assert calls(log, "create_keypair") == [{"name": "dvrv-r1", "public_key": "ssh-ed25519 AAAA x"}]
    assert [vm.server_id for vm in done.vms] == [vm.device_id for vm in done.vms]
    assert done.vms[0].fip and done.vms[1].fip is None
    assert len(done.unbound) == 1 and done.backend == "nova"


def test_lab_ports_are_bound_as_nova_would_and_no_server_is_booted() -> None:
    log: list = []
    conn = SimpleNamespace(network=Recorder("network", log), compute=Recorder("compute", log))
    done = prov.provision(conn, "r1", [prov.PlannedVM("c1", "node-12", True)], "ext", ha=True)
    port = calls(log, "create_port")[0]
    assert port["binding_host_id"] == "node-12" and port["device_owner"] == "compute:nova"
    assert calls(log, "create_server") == [] and calls(log, "create_keypair") == []
    assert calls(log, "create_router")[0]["is_ha"] is True and done.ha


class FakeCompute:
    def __init__(self, statuses=("ACTIVE",), fault=None, services=None, flavors=None, specs=None):
        self.statuses = list(statuses)
        self.fault = fault
        self._services = services or []
        self._flavors = flavors or []
        self._specs = specs or {}  # flavor name -> extra specs the list does not carry
        self.fetched: list[str] = []
        self.deleted: list[str] = []
        self.queries: list[dict] = []
        self.servers_left = 2

    def get_server(self, _id):
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return SimpleNamespace(status=status, fault=self.fault)

    def services(self):
        return self._services

    def flavors(self):
        return self._flavors

    def find_flavor(self, name, ignore_missing=True):
        return next((f for f in self._flavors if name in (f.id, f.name)), None)

    def fetch_flavor_extra_specs(self, flv):
        self.fetched.append(flv.name)
        return SimpleNamespace(**{**vars(flv), "extra_specs": self._specs.get(flv.name, {})})

    def servers(self, **query):
        """Nova's server list: `name` is a regex (matched from the start), `all_projects` lists
        every project's. Deleted servers stay listed for `servers_left` more lists."""
        self.queries.append(query)
        assert "name" in query, f"servers({query}) lists every server of the cloud"
        if self.deleted:
            self.servers_left -= 1
        mine = {"dvr-verify": "dvr-verify-run-r1"}
        other = {"dvr-verify": "dvr-verify-run-r2"}
        every = [
            SimpleNamespace(id="s1", name="dvrv-r1-c1", metadata=mine),
            SimpleNamespace(id="s2", name="dvrv-r2-c1", metadata=other),
            SimpleNamespace(id="s3", name="someone-else", metadata={}),
            SimpleNamespace(id="s4", name="dvrv-r1-c2", metadata={}),  # not made by a run
        ]
        gone = self.servers_left <= 0
        return [
            s
            for s in every
            if re.match(query["name"], s.name) and not (gone and s.name in self.deleted)
        ]

    def delete_server(self, server, ignore_missing=True):
        self.deleted.append(server.name)

    def find_server(self, _id, ignore_missing=True):
        raise AssertionError("find_server lists the project's servers when the server is gone")

    def keypairs(self):
        return [
            SimpleNamespace(name="dvrv-r1"),
            SimpleNamespace(name="dvrv-r2"),
            SimpleNamespace(name="mine"),
        ]

    def delete_keypair(self, key, ignore_missing=True):
        self.deleted.append(key.name)


def one_vm_run() -> prov.Provisioned:
    vm = prov.ProvisionedVM("c1", "node-12", "p", "s", "m", "10.0.111.5", 24, "10.0.111.1", 1450)
    vm.server_id = "s"
    return prov.Provisioned(run_id="r1", tag="dvr-verify-run-r1", vms=[vm])


def test_wait_ends_at_once_with_novas_fault_when_a_server_fails() -> None:
    compute = FakeCompute(
        statuses=["BUILD", "ERROR"], fault={"message": "No valid host was found."}
    )
    active = SimpleNamespace(status="ACTIVE")
    conn = SimpleNamespace(compute=compute, network=SimpleNamespace(get_port=lambda _: active))
    failed = "server dvrv-r1-c1 on node-12: ERROR: No valid host"
    with pytest.raises(prov.PreflightError, match=failed):
        prov.wait_active(conn, one_vm_run(), timeout=60, sleep=lambda _: None)


def test_cleanup_of_a_run_deletes_its_servers_and_keypair_only_and_waits_for_them() -> None:
    compute = FakeCompute()
    conn = SimpleNamespace(compute=compute, has_service=lambda s: s == "compute")
    deleted = prov._cleanup_compute(conn, "dvr-verify-run-r1", sleep=lambda _: None)
    assert compute.deleted == ["dvrv-r1-c1", "dvrv-r1"]
    assert deleted == ["server dvrv-r1-c1", "keypair dvrv-r1"]
    assert compute.servers_left <= 0  # polled until the server was gone
    # one list to find the run's servers, one per poll until they are gone: all by name
    assert compute.queries == [{"details": True, "all_projects": True, "name": "^dvrv-r1-"}] * 3


def test_cleanup_of_all_runs_spares_what_is_not_ours() -> None:
    compute = FakeCompute()
    conn = SimpleNamespace(compute=compute, has_service=lambda s: True)
    prov._cleanup_compute(conn, "dvr-verify", sleep=lambda _: None)
    assert sorted(compute.deleted) == ["dvrv-r1", "dvrv-r1-c1", "dvrv-r2", "dvrv-r2-c1"]
    assert {q["name"] for q in compute.queries} == {"^dvrv-"} and len(compute.queries) == 3


def test_a_cleanup_lists_servers_by_name_only_and_a_bounded_number_of_times() -> None:
    """The whole cleanup of a run (every backend, then Neutron): never an unfiltered server list
    (FakeCompute refuses one), one to find the run's servers and one per 2 s poll after."""
    compute = FakeCompute()
    network = SimpleNamespace(
        **{m: lambda **_: [] for m in NEUTRON_LISTS},
        **{f"delete_{m.rstrip('s')}": lambda *_, **__: None for m in NEUTRON_LISTS},
    )
    conn = SimpleNamespace(compute=compute, network=network, has_service=lambda s: True)
    polls = []
    prov.cleanup(conn, "dvr-verify-run-r1.2", sleep=polls.append)
    assert compute.queries == [{"details": True, "all_projects": True, "name": r"^dvrv-r1\.2-"}]
    prov.cleanup(conn, "dvr-verify-run-r1", sleep=polls.append)
    assert len(compute.queries[1:]) == 2 + len(polls) == 3  # found, still there (a poll), gone
    assert all(q["all_projects"] and q["name"] == "^dvrv-r1-" for q in compute.queries[1:])


NEUTRON_LISTS = ("ips", "ports", "routers", "networks", "security_groups")


def test_a_cloud_without_compute_service_has_nothing_to_clean_in_nova() -> None:
    conn = SimpleNamespace(has_service=lambda s: False)
    assert prov._cleanup_compute(conn, "dvr-verify") == []


def image(name, created, status="active", min_disk=0):
    return SimpleNamespace(
        id=name or "unnamed",
        name=name,
        created_at=created,
        status=status,
        min_disk=min_disk,
        disk_format="qcow2",
        container_format="bare",
    )


def flavor(name, ram, disk, vcpus=1, disabled=False, specs=None, public=True):
    return SimpleNamespace(
        id=name,
        name=name,
        ram=ram,
        disk=disk,
        vcpus=vcpus,
        is_disabled=disabled,
        is_public=public,
        extra_specs=specs or {},
    )


def test_default_image_is_the_newest_active_cirros_and_flavor_the_smallest_that_fits() -> None:
    images = [
        image("cirros-0.5.2", "2021-01-01"),
        image("cirros-0.6.3", "2024-10-01"),
        image("cirros-0.7.0", "2025-01-01", status="queued"),
        image("ubuntu", "2026-01-01"),
    ]
    conn = SimpleNamespace(image=SimpleNamespace(images=lambda: images))
    assert prov.choose_image(conn, "").name == "cirros-0.6.3"
    flavors = [flavor("m1.nano", 64, 1), flavor("cirros256", 256, 1), flavor("m1.tiny", 512, 1)]
    conn = SimpleNamespace(compute=FakeCompute(flavors=flavors))
    assert prov.choose_flavor(conn, "", min_disk=1).name == "cirros256"
    with pytest.raises(prov.PreflightError, match="set dvr_verify_flavor"):
        prov.choose_flavor(conn, "", min_disk=20)
    with pytest.raises(prov.PreflightError, match=r"flavor 'm1\.huge' not found"):
        prov.choose_flavor(conn, "m1.huge")


def service(host, state="up", status="enabled"):
    return SimpleNamespace(host=host, binary="nova-compute", state=state, status=status)


@pytest.mark.parametrize(
    ("services", "message"),
    [
        ([service("node-11")], "no nova-compute service on node-12"),
        ([service("node-12", state="down")], "nova-compute down or disabled on node-12"),
        ([service("node-12", status="disabled")], "nova-compute down or disabled on node-12"),
    ],
)
def test_nova_backend_refuses_hosts_without_a_working_compute_service(services, message) -> None:
    conn = SimpleNamespace(has_service=lambda s: True, compute=FakeCompute(services=services))
    with pytest.raises(prov.PreflightError, match=message):
        prov._backend(conn, "nova", ["node-12"], "", "")


def test_auto_backend_follows_the_catalog() -> None:
    assert prov.resolve_backend(SimpleNamespace(has_service=lambda s: False), "auto") == "lab"
    assert prov.resolve_backend(SimpleNamespace(has_service=lambda s: True), "auto") == "nova"
    with pytest.raises(prov.PreflightError, match="use auto, lab or nova"):
        prov.resolve_backend(SimpleNamespace(), "ironic")


def test_wait_holds_a_dvr_ha_router_until_one_agent_is_active() -> None:
    states = iter([["standby", "standby"], ["standby", "active"]])
    active = SimpleNamespace(status="ACTIVE")

    def hosting(_router_id):
        return [SimpleNamespace(ha_state=s) for s in next(states)]

    network = SimpleNamespace(get_port=lambda _: active, routers_hosting_l3_agents=hosting)
    done = one_vm_run()
    done.vms[0].server_id = None
    done.ha, done.router_id = True, "r"
    slept: list[float] = []
    prov.wait_active(SimpleNamespace(network=network), done, timeout=60, sleep=slept.append)
    assert slept == [2.0]  # polled once more, then the router had its active agent


def uec(name, created, disk_format, container_format=None, **props):
    img = image(name, created)
    img.disk_format, img.container_format = disk_format, container_format or disk_format
    img.kernel_id, img.ramdisk_id = props.get("kernel_id"), props.get("ramdisk_id")
    return img


def test_default_image_skips_uec_kernel_and_ramdisk_parts_for_the_machine_image() -> None:
    """DevStack's cirros UEC set: the -kernel (aki) and -ramdisk (ari) parts are not bootable; the
    machine image (ami) that references them is."""
    images = [
        uec("cirros-0.6.3-x86_64-uec", "2025-01-01", "ami", kernel_id="k", ramdisk_id="r"),
        uec("cirros-0.6.3-x86_64-uec-kernel", "2025-01-02", "aki"),
        uec("cirros-0.6.3-x86_64-uec-ramdisk", "2025-01-03", "ari"),
        uec("cirros-0.6.3-x86_64-uec-initrd", "2025-01-04", "qcow2", container_format="ari"),
    ]
    conn = SimpleNamespace(image=SimpleNamespace(images=lambda: images))
    chosen = prov.choose_image(conn, "")
    assert chosen.name == "cirros-0.6.3-x86_64-uec"
    assert (chosen.kernel_id, chosen.ramdisk_id) == ("k", "r")


def test_an_unnamed_image_is_no_candidate_and_no_traceback() -> None:
    images = [image(None, "2026-02-01"), image("cirros-0.6.3", "2024-10-01")]
    conn = SimpleNamespace(image=SimpleNamespace(images=lambda: images))
    assert prov.choose_image(conn, "").name == "cirros-0.6.3"
    images = [image(None, "2026-02-01"), uec("cirros-0.6.3-x86_64-uec-kernel", "2025-01-02", "aki")]
    conn = SimpleNamespace(image=SimpleNamespace(images=lambda: images))
    with pytest.raises(prov.PreflightError, match="no active cirros\\* image"):
        prov.choose_image(conn, "")


def test_a_named_uec_kernel_or_ramdisk_image_is_refused() -> None:
    kernel = uec("cirros-0.6.3-x86_64-uec-kernel", "2025-01-02", "aki")
    conn = SimpleNamespace(image=SimpleNamespace(find_image=lambda name, ignore_missing: kernel))
    with pytest.raises(prov.PreflightError, match=r"kernel or ramdisk \(aki\)"):
        prov.choose_image(conn, "cirros-0.6.3-x86_64-uec-kernel")


@pytest.mark.parametrize(
    "specs",
    [
        {"resources:CUSTOM_BAREMETAL_SMALL": "1", "resources:VCPU": "0"},
        {"resources:VCPU": "0"},
        {"resources1:VGPU": "1"},
        {"capabilities:boot_mode": "uefi"},
        {"hw:cpu_policy": "dedicated"},
        {"hw:cpu_policy": "MIXED"},
        {"trait:CUSTOM_RAID": "required"},
        {"aggregate_instance_extra_specs:ssd": "true"},
        {"pci_passthrough:alias": "a1:1"},
        {"hw:mem_page_size": "large"},
        {"baremetal": "true"},  # unscoped: matched against hosts' capabilities or aggregates
    ],
    ids=lambda specs: ",".join(specs),
)
def test_default_flavor_skips_flavors_with_special_extra_specs(specs) -> None:
    flavors = [
        flavor("bm.small", 128, 1, specs=specs),
        flavor("m1.nano", 192, 1, specs={"hw_rng:allowed": "True", "hw:cpu_policy": "shared"}),
    ]
    conn = SimpleNamespace(compute=FakeCompute(flavors=flavors))
    assert prov.choose_flavor(conn, "", min_disk=1).name == "m1.nano"


def test_default_flavor_skips_disabled_and_private_flavors() -> None:
    flavors = [
        flavor("m1.off", 128, 1, disabled=True),
        flavor("m1.private", 128, 1, public=False),
        flavor("m1.nano", 192, 1, disabled=None),  # no OS-FLV-DISABLED in the answer: enabled
    ]
    conn = SimpleNamespace(compute=FakeCompute(flavors=flavors))
    assert prov.choose_flavor(conn, "", min_disk=1).name == "m1.nano"


def test_extra_specs_the_list_lacks_are_fetched_smallest_first_until_one_fits() -> None:
    """Before compute API 2.61 a flavor list carries no extra specs: they are fetched, one flavor
    at a time, from the smallest that fits, and no further than the first plain one."""
    flavors = [
        flavor("m1.large", 8192, 80),
        flavor("bm.small", 128, 1),
        flavor("m1.tiny", 512, 1),
        flavor("m1.pinned", 256, 1),
    ]
    specs = {
        "bm.small": {"resources:CUSTOM_BAREMETAL": "1"},
        "m1.pinned": {"hw:cpu_policy": "dedicated"},
    }
    compute = FakeCompute(flavors=flavors, specs=specs)
    assert prov.choose_flavor(SimpleNamespace(compute=compute), "").name == "m1.tiny"
    assert compute.fetched == ["bm.small", "m1.pinned", "m1.tiny"]


def test_only_special_or_disabled_flavors_is_one_line_naming_the_variable() -> None:
    flavors = [
        flavor("bm", 128, 1, specs={"resources:VCPU": "0"}),
        flavor("off", 256, 1, disabled=True),
    ]
    conn = SimpleNamespace(compute=FakeCompute(flavors=flavors))
    with pytest.raises(prov.PreflightError, match=r"special extra specs.*set dvr_verify_flavor"):
        prov.choose_flavor(conn, "")


def test_a_named_disabled_flavor_is_refused() -> None:
    conn = SimpleNamespace(compute=FakeCompute(flavors=[flavor("m1.old", 512, 1, disabled=True)]))
    with pytest.raises(prov.PreflightError, match=r"flavor 'm1\.old' is disabled"):
        prov.choose_flavor(conn, "m1.old")
