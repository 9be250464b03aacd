"""Bad input on the lab (issue 12 items 10-15): verify_dvr.yml stops in setup or preflight, its
first failure names what to fix, and nothing tagged dvr-verify is created.

Each case goes no further than preflight (no provisioning, no sweep), a few seconds each, but the
last two, which boot through the lab's Nova: a boot that fails in Nova (its fault message, then
nothing left) and guests that never answer SSH (each named "not verified", then nothing left).
The member-only case makes a project and a user with only the `member` role (admin openstacksdk
on the lab's cloud `dvr-lab`), writes a clouds.yaml for it in tmp_path (OS_CLIENT_CONFIG_FILE)
and deletes both afterwards; no password is printed.

Needs the lab (`make lab-up`); skipped with the reason otherwise.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openstack
import pytest
import yaml
from openstack.config import loader
from playbook_output import first_failure
from test_verify import nothing_of_nova_left

REPO = Path(__file__).resolve().parents[2]
INVENTORY = REPO / "inventory" / "lab" / "hosts.yml"
CLOUDS = REPO / "clouds.yaml"  # written by make lab-up (roles/lab_up/tasks/fabric.yml)
LAB_CLOUD = "dvr-lab"
BIN = Path(sys.executable).parent
TAG = "dvr-verify"
pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(not INVENTORY.exists(), reason="the lab is not up: run `make lab-up`"),
]


def lab_entry() -> dict[str, Any]:
    """The lab's admin entry of clouds.yaml (a copy: callers change it)."""
    return json.loads(json.dumps(yaml.safe_load(CLOUDS.read_text())["clouds"][LAB_CLOUD]))


def write_clouds(path: Path, clouds: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump({"clouds": clouds}))
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def admin() -> Iterator[Any]:
    """Admin openstacksdk on the lab's cloud, from the clouds.yaml lab-up wrote."""
    config = loader.OpenStackConfig(config_files=[str(CLOUDS)])
    conn = openstack.connection.Connection(config=config.get_one(LAB_CLOUD))
    yield conn
    conn.close()


def tagged(conn: Any) -> set[tuple[str, str]]:
    """Every network, port and router tagged dvr-verify (kind, id)."""
    net = conn.network
    found = {("network", n.id) for n in net.networks(tags=TAG)}
    found |= {("port", p.id) for p in net.ports(tags=TAG)}
    return found | {("router", r.id) for r in net.routers(tags=TAG)}


def verify(
    tmp_path: Path, *args: str, clouds: Path | None = None, timeout: float = 300
) -> tuple[int, str, str]:
    """verify_dvr.yml on the lab with `args`: (exit code, first failure message, output)."""
    # PWD: the role's dvr_verify_workdir, where ./clouds.yaml is found (the lab's, in REPO).
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), PWD=str(REPO))
    env["PATH"] = f"{BIN}:{env.get('PATH', '')}"
    env.pop("OS_CLIENT_CONFIG_FILE", None)
    if clouds is not None:
        env["OS_CLIENT_CONFIG_FILE"] = str(clouds)
    where = {
        "dvr_verify_runs_dir": str(tmp_path / "runs"),
        "dvr_verify_keys_dir": str(tmp_path / "keys"),
    }
    has_inventory = "-i" in args
    argv = [str(BIN / "ansible-playbook"), "verify_dvr.yml", "-e", json.dumps(where)]
    argv += [*([] if has_inventory else ["-i", str(INVENTORY)]), *args]
    done = subprocess.run(
        argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    return done.returncode, first_failure(done.stdout), done.stdout


@pytest.fixture
def nothing_created(admin: Any) -> Iterator[None]:
    """The case creates nothing tagged dvr-verify (what other runs delete meanwhile is theirs)."""
    before = tagged(admin)
    yield
    assert tagged(admin) - before == set(), "the refused run created resources"


def refused(tmp_path: Path, *args: str, clouds: Path | None = None) -> str:
    """The first failure of a run that must fail."""
    rc, failure, out = verify(tmp_path, *args, clouds=clouds)
    assert rc != 0, out[-3000:]
    assert failure, out[-3000:]
    return failure


@pytest.fixture
def member_clouds(admin: Any, tmp_path: Path) -> Iterator[Path]:
    """A clouds.yaml (entry dvr-lab-member) of a user with only the `member` role on a project
    of its own; both are deleted afterwards."""
    name = f"dvrv-e2e-member-{secrets.token_hex(3)}"
    password = secrets.token_urlsafe(24)
    role = admin.identity.find_role("member", ignore_missing=False)
    project = admin.identity.create_project(name=name, domain_id="default")
    try:
        user = admin.identity.create_user(
            name=name, password=password, domain_id="default", default_project_id=project.id
        )
        try:
            admin.identity.assign_project_role_to_user(project, user, role)
            entry = lab_entry()
            entry["auth"].update(username=name, password=password, project_name=name)
            yield write_clouds(tmp_path / "clouds.yaml", {"dvr-lab-member": entry})
        finally:
            admin.identity.delete_user(user)
    finally:
        admin.identity.delete_project(project)


def probe_host() -> str:
    """The lab's probe host (its inventory name)."""
    tree = yaml.safe_load(INVENTORY.read_text())
    return next(iter(tree["all"]["children"]["lab"]["children"]["probe"]["hosts"]))


def lab_inventory_without(group: str, path: Path) -> Path:
    tree = yaml.safe_load(INVENTORY.read_text())
    del tree["all"]["children"]["lab"]["children"][group]
    path.write_text(yaml.safe_dump(tree))
    return path


@pytest.mark.usefixtures("nothing_created")
def test_member_only_credentials_are_told_admin_is_required(
    tmp_path: Path, member_clouds: Path
) -> None:
    failure = refused(tmp_path, "-e", "dvr_verify_cloud=dvr-lab-member", clouds=member_clouds)
    assert failure.startswith("dvr-verify: the credentials are not admin (roles: "), failure
    assert "binding:host_id, the agents and distributed routers are admin-only" in failure
    assert "not a DVR cloud" not in failure


@pytest.mark.usefixtures("nothing_created")
def test_a_wrong_password_names_the_cloud_then_authentication_failed(tmp_path: Path) -> None:
    entry = lab_entry()
    entry["auth"]["password"] = secrets.token_urlsafe(16)
    clouds = write_clouds(tmp_path / "clouds.yaml", {"dvr-lab-wrong": entry})
    failure = refused(tmp_path, "-e", "dvr_verify_cloud=dvr-lab-wrong", clouds=clouds)
    assert failure.startswith("dvr-verify: cloud 'dvr-lab-wrong': authentication failed: "), failure
    assert "(HTTP 401)" in failure


@pytest.mark.usefixtures("nothing_created")
def test_a_probe_interface_that_does_not_exist_is_named(tmp_path: Path) -> None:
    failure = refused(tmp_path, "-e", "dvr_verify_probe_interface=dvrv-nosuch0")
    assert failure == (
        f"dvr-verify: probe host {probe_host()}: no interface dvrv-nosuch0"
        " (dvr_verify_probe_interface)"
    )


@pytest.mark.usefixtures("nothing_created")
def test_a_probe_interface_without_an_address_on_the_external_subnet_is_named(
    tmp_path: Path,
) -> None:
    failure = refused(tmp_path, "-e", "dvr_verify_probe_interface=lo")
    assert failure.startswith(
        f"dvr-verify: probe host {probe_host()}: interface lo (dvr_verify_probe_interface) has"
        " no address in the external subnet "
    ), failure


@pytest.mark.usefixtures("nothing_created")
def test_an_inventory_that_does_not_parse_is_named(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts.yml"
    hosts.write_text(INVENTORY.read_text() + "\n  broken: [unclosed\n")
    failure = refused(tmp_path, "-i", str(hosts))
    assert failure == (
        f"inventory {hosts}: no hosts: it did not parse (see the warning above) or is empty"
    )


@pytest.mark.parametrize("group", ["computes", "network_nodes"])
@pytest.mark.usefixtures("nothing_created")
def test_an_inventory_without_computes_or_network_nodes_is_named(tmp_path: Path, group) -> None:
    hosts = lab_inventory_without(group, tmp_path / "hosts.yml")
    assert refused(tmp_path, "-i", str(hosts)) == f"inventory {hosts}: no host in group {group}"


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("dvr_verify_vms_per_compute=abc", "a whole number >= 1 (got 'abc')"),
        ("dvr_verify_ha=maybe", "true or false (got 'maybe')"),
        ("dvr_verify_tcp_port=0", "a whole number from 1 to 65535 (got '0')"),
    ],
)
@pytest.mark.usefixtures("nothing_created")
def test_a_bad_option_is_named(tmp_path: Path, option: str, message: str) -> None:
    name = option.split("=")[0]
    assert refused(tmp_path, "-e", option) == f"dvr-verify: {name}: {message}"


@pytest.mark.usefixtures("nothing_created")
def test_a_missing_cloud_names_the_clouds_yaml_searched(tmp_path: Path) -> None:
    failure = refused(tmp_path, "-e", "dvr_verify_cloud=dvr-lab-nosuch")
    assert failure.startswith(
        f"dvr-verify: cloud 'dvr-lab-nosuch': not in {CLOUDS} (clouds: {LAB_CLOUD}), the first"
        " that exists of "
    ), failure


@pytest.fixture
def compute_forced_down(admin: Any) -> Iterator[str]:
    """A compute's nova-compute forced down (Nova's forced_down, not a wait for
    service_down_time); forced up again afterwards. Skips on a lab without Nova."""
    if not admin.has_service("compute"):
        pytest.skip("the lab has no Nova")
    tree = yaml.safe_load(INVENTORY.read_text())
    host = sorted(tree["all"]["children"]["lab"]["children"]["computes"]["hosts"])[-1]
    service = next(admin.compute.services(binary="nova-compute", host=host))
    admin.compute.update_service_forced_down(service, host, "nova-compute", True)
    try:
        yield host
    finally:
        admin.compute.update_service_forced_down(service, host, "nova-compute", False)


@pytest.mark.usefixtures("nothing_created")
def test_a_compute_whose_nova_compute_is_down_is_refused_before_anything_is_made(
    tmp_path: Path, compute_forced_down: str
) -> None:
    failure = refused(tmp_path, "-e", "dvr_verify_backend=nova")
    assert failure == f"dvr-verify: nova-compute down or disabled on {compute_forced_down}", failure


def lab_guest(admin: Any) -> tuple[Any, Any]:
    """The image and flavor lab-up made for guests (inventory all.vars); skips without Nova."""
    if not admin.has_service("compute"):
        pytest.skip("the lab has no Nova")
    wanted = yaml.safe_load(INVENTORY.read_text())["all"]["vars"]
    image = admin.image.find_image(wanted["dvr_verify_image"], ignore_missing=False)
    return image, admin.compute.find_flavor(wanted["dvr_verify_flavor"], ignore_missing=False)


@pytest.fixture
def flavor_no_host_fits(admin: Any) -> Iterator[str]:
    """A flavor of 1 TiB RAM: Placement finds no host for it, so Nova's scheduler puts the
    server in ERROR with its fault "No valid host was found"; deleted afterwards. The project's
    RAM quota is lifted meanwhile (else the API refuses the server before any boot), then
    restored."""
    _, tiny = lab_guest(admin)
    project = admin.current_project_id
    ram_quota = admin.get_compute_quotas(project).ram
    name = f"dvrv-e2e-huge-{secrets.token_hex(3)}"
    flavor = admin.compute.create_flavor(name=name, ram=1 << 20, vcpus=1, disk=tiny.disk)
    try:
        admin.set_compute_quotas(project, ram=-1)
        yield name
    finally:
        admin.set_compute_quotas(project, ram=ram_quota)
        admin.compute.delete_flavor(flavor)


@pytest.mark.usefixtures("nothing_created")
def test_a_boot_that_fails_in_nova_gives_nova_s_fault_and_leaves_nothing(
    tmp_path: Path, flavor_no_host_fits: str
) -> None:
    failure = refused(tmp_path, "-e", f"dvr_verify_flavor={flavor_no_host_fits}")
    assert failure.startswith("dvr-verify: server dvrv-"), failure
    assert ": ERROR: No valid host was found" in failure, failure
    assert nothing_of_nova_left() == []


@pytest.fixture
def image_that_never_answers(admin: Any, tmp_path: Path) -> Iterator[str]:
    """A raw image whose boot sector halts the CPU (cli; hlt): a guest Nova boots (ACTIVE) that
    never answers SSH, ping or ARP; deleted afterwards. Its MBR has one partition, or Glance's
    format inspector refuses the upload (an MBR without partitions fails its safety check)."""
    lab_guest(admin)
    partition = bytes([0x80, 0, 2, 0, 0x83, 0xFE, 0xFF, 0xFF]) + (1).to_bytes(4, "little")
    partition += (2047).to_bytes(4, "little")  # LBA 1 to the end of the 1 MiB disk
    sector = b"\xfa\xf4\xeb\xfd".ljust(446, b"\0") + partition.ljust(64, b"\0") + b"\x55\xaa"
    disk = tmp_path / "halt.raw"
    disk.write_bytes(sector.ljust(1 << 20, b"\0"))
    name = f"dvrv-e2e-halt-{secrets.token_hex(3)}"
    image = admin.create_image(
        name, filename=str(disk), disk_format="raw", container_format="bare", wait=True
    )
    try:
        yield name
    finally:
        admin.image.delete_image(image)


@pytest.mark.usefixtures("nothing_created")
def test_guests_that_never_answer_ssh_are_each_named_not_verified_and_nothing_is_left(
    tmp_path: Path, image_that_never_answers: str
) -> None:
    rc, _, out = verify(
        tmp_path, "-e", f"dvr_verify_image={image_that_never_answers}",
        "-e", "dvr_verify_ssh_timeout=30", "-e", "dvr_verify_strict=true", timeout=600,
    )  # fmt: skip
    assert rc != 0, out[-3000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    vms = json.loads((run_dir / "resources.json").read_text())["vms"]
    names = sorted(vm["name"] for vm in vms)
    said = [line for line in out.splitlines() if "no SSH into" in line]
    assert said and "within 30s" in said[0], out[-3000:]
    assert all(name in said[0] for name in names), said
    findings = json.loads((run_dir / "report.json").read_text())["findings"]
    unreached = {(f["check"], f["observed"]) for f in findings if f["status"] == "not_verified"}
    for name in names:
        for check in ("egress.source", "trace.path"):
            assert (check, f"no SSH into VM {name}: its probe did not run") in unreached, name
    assert nothing_of_nova_left() == []
