"""Bad input (issue 12 items 10-15): each refused in one first line naming what to fix, before
anything is created. openstacksdk is mocked at its boundary with the exceptions it really raises
(keystoneauth1's Unauthorized, openstack.exceptions' ForbiddenException, ConfigException from
openstack.config for a missing cloud)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import openstack
import pytest
import yaml
from keystoneauth1.exceptions.http import Unauthorized
from openstack import exceptions
from playbook_output import first_failure

from dvr_verify.cli import main
from dvr_verify.options import OPTIONS, OptionError, check_options, to_bool
from dvr_verify.provision import PreflightError, preflight

MEMBER_ONLY = "the credentials are not admin (roles: member, reader)"
WHY_ADMIN = "binding:host_id, the agents and distributed routers are admin-only"


def run_dir(tmp_path: Path, cloud: str) -> Path:
    """A run directory whose run.json names `cloud`."""
    path = tmp_path / "run"
    path.mkdir()
    (path / "run.json").write_text(json.dumps({"run_id": "r1", "cloud": cloud}))
    return path


def first_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    return err


class Network:
    """openstacksdk's network proxy as a member-only user sees it (Neutron 29: agents are
    admin-only, a list filters them out; some policies refuse the list with 403)."""

    def __init__(self, agents: list[Any] | None = None, forbidden: bool = False) -> None:
        self._agents, self.forbidden = agents or [], forbidden

    def find_extension(self, name: str) -> Any:
        return SimpleNamespace(alias=name)

    def agents(self, **_: Any) -> list[Any]:
        if self.forbidden:
            raise exceptions.ForbiddenException(
                "ForbiddenException: 403: Client Error for url: http://k/v2.0/agents"
            )
        return self._agents


def member_conn(**network: Any) -> Any:
    """A connection whose token has the roles member and reader (keystoneauth AccessInfo)."""
    access = SimpleNamespace(role_names=["member", "reader"])
    auth = SimpleNamespace(get_access=lambda session: access)
    return SimpleNamespace(network=Network(**network), session=SimpleNamespace(auth=auth))


@pytest.mark.parametrize("forbidden", [False, True], ids=["agents-filtered", "agents-403"])
def test_member_only_credentials_are_told_admin_is_required(forbidden: bool) -> None:
    with pytest.raises(PreflightError) as err:
        preflight(member_conn(forbidden=forbidden), ["node-12"], None)
    assert str(err.value).startswith(MEMBER_ONLY)
    assert WHY_ADMIN in str(err.value) and "not a DVR cloud" not in str(err.value)


def test_an_admin_seeing_no_l3_agent_is_still_told_it_is_not_a_dvr_cloud() -> None:
    conn = member_conn()
    conn.session.auth = SimpleNamespace(get_access=lambda s: SimpleNamespace(role_names=["admin"]))
    with pytest.raises(PreflightError, match="no L3 agent in dvr or dvr_snat mode"):
        preflight(conn, ["node-12"], None)


def test_a_wrong_password_names_the_cloud_then_authentication_failed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    refused = Unauthorized(
        message="The request you have made requires authentication.",
        http_status=401,
        request_id="req-0c4d",
        url="http://10.0.0.1:5000/v3/auth/tokens",
        method="POST",
    )

    def get_endpoint() -> str:
        raise refused

    conn = SimpleNamespace(network=SimpleNamespace(get_endpoint=get_endpoint))
    monkeypatch.setattr(openstack, "connect", lambda cloud: conn)
    assert main(["preflight", "--run-dir", str(run_dir(tmp_path, "mycloud"))]) == 2
    assert first_error(capsys) == (
        "dvr-verify: cloud 'mycloud': authentication failed: The request you have made requires"
        " authentication. (HTTP 401) (Request-ID: req-0c4d)"
    )


def test_a_missing_cloud_names_the_clouds_yaml_read_and_every_file_searched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from openstack.config import loader

    clouds = tmp_path / "clouds.yaml"
    clouds.write_text("clouds:\n  dvr-lab:\n    auth: {auth_url: 'http://192.0.2.1:5000/v3'}\n")
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds))
    assert main(["preflight", "--run-dir", str(run_dir(tmp_path, "nosuch"))]) == 2
    err = first_error(capsys)
    assert err.startswith(f"dvr-verify: cloud 'nosuch': not in {clouds} (clouds: dvr-lab)")
    assert all(path in err for path in loader.CONFIG_FILES)


def test_no_clouds_yaml_at_all_lists_every_file_searched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from openstack.config import loader

    absent = tmp_path / "absent.yaml"
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(absent))
    monkeypatch.setattr(loader, "CONFIG_FILES", [str(tmp_path / "clouds.yaml")])
    monkeypatch.setattr(loader, "OpenStackConfig", _config_of(loader, [str(absent)]))
    assert main(["preflight", "--run-dir", str(run_dir(tmp_path, "nosuch"))]) == 2
    assert first_error(capsys) == (
        f"dvr-verify: cloud 'nosuch': no clouds.yaml found; searched {absent},"
        f" {tmp_path / 'clouds.yaml'}"
    )


def _config_of(loader: Any, files: list[str]) -> Any:
    """openstack.config reading only `files` (the machine's own clouds.yaml stays out)."""
    real = loader.OpenStackConfig

    def make(*args: Any, **kwargs: Any) -> Any:
        return real(*args, **{**kwargs, "config_files": files})

    return make


# The Ansible side: verify_dvr.yml with inventories whose hosts are never contacted and a
# clouds.yaml without the cloud (OS_CLIENT_CONFIG_FILE): the run stops in setup (inventory,
# options) or at the first preflight step, which finds no cloud to reach.
PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
REPO = Path(__file__).resolve().parents[2]
needs_ansible = pytest.mark.skipif(not PLAYBOOK.exists(), reason="no ansible-playbook in the venv")
GOOD_INVENTORY = {
    "all": {
        "children": {
            "network_nodes": {"hosts": {"node-11": {"ansible_host": "192.0.2.11"}}},
            "computes": {"hosts": {"node-12": {"ansible_host": "192.0.2.12"}}},
            "probe": {"hosts": {"probe-1": {"ansible_host": "192.0.2.5"}}},
        }
    }
}


def verify(tmp_path: Path, inventory: str, **extra: Any) -> tuple[int, str]:
    """verify_dvr.yml against cloud `nosuch`: (exit code, first failure message)."""
    hosts = tmp_path / "hosts.yml"
    hosts.write_text(inventory)
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text("clouds: {}\n")
    variables = {
        "dvr_verify_cloud": "nosuch",
        "dvr_verify_runs_dir": str(tmp_path / "runs"),
        "dvr_verify_keys_dir": str(tmp_path / "keys"),
        "dvr_verify_workdir": str(tmp_path),
    }
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}
    env.update(OS_CLIENT_CONFIG_FILE=str(clouds), ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"))
    argv = [
        str(PLAYBOOK),
        str(REPO / "verify_dvr.yml"),
        "-i",
        str(hosts),
        "-e",
        json.dumps(variables),
    ]
    for key, value in extra.items():  # as on the command line: -e name=value, a string
        argv += ["-e", f"{key}={value}"]
    done = subprocess.run(
        argv, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120, check=False
    )
    return done.returncode, first_failure(done.stdout)


@needs_ansible
def test_good_input_gets_as_far_as_the_missing_cloud(tmp_path: Path) -> None:
    """The control: nothing below refuses a good inventory and good options."""
    good = {"dvr_verify_vms_per_compute": "3", "dvr_verify_keep": "yes", "dvr_verify_ha": "False"}
    rc, failure = verify(tmp_path, yaml.safe_dump(GOOD_INVENTORY), **good)
    assert rc != 0
    assert failure.startswith("dvr-verify: cloud 'nosuch': not in "), failure


@needs_ansible
def test_an_inventory_that_does_not_parse_is_named(tmp_path: Path) -> None:
    rc, failure = verify(tmp_path, "all:\n  children: [computes\n")
    assert rc != 0
    assert failure == (
        f"inventory {tmp_path / 'hosts.yml'}: no hosts: it did not parse (see the warning above)"
        " or is empty"
    )


@pytest.mark.parametrize("group", ["computes", "network_nodes"])
@needs_ansible
def test_an_inventory_without_computes_or_network_nodes_is_named(tmp_path: Path, group) -> None:
    tree = json.loads(json.dumps(GOOD_INVENTORY))
    del tree["all"]["children"][group]
    rc, failure = verify(tmp_path, yaml.safe_dump(tree))
    assert rc != 0
    assert failure == f"inventory {tmp_path / 'hosts.yml'}: no host in group {group}"


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("vms_per_compute", "abc", "a whole number >= 1 (got 'abc')"),
        ("tcp_port", "70000", "a whole number from 1 to 65535 (got '70000')"),
        ("vm_access", "telnet", "one of auto, netns, ssh (got 'telnet')"),
    ],
)
@needs_ansible
def test_a_bad_option_on_the_command_line_is_named(tmp_path: Path, option, value, message) -> None:
    rc, failure = verify(
        tmp_path, yaml.safe_dump(GOOD_INVENTORY), **{f"dvr_verify_{option}": value}
    )
    assert rc != 0
    assert failure == f"dvr-verify: dvr_verify_{option}: {message}"


def test_every_option_of_the_role_is_checked_and_handed_to_the_check() -> None:
    """defaults/main.yml, OPTIONS and setup.yml's dvr_verify_options name the same options."""
    defaults = yaml.safe_load((REPO / "roles/dvr_verify/defaults/main.yml").read_text())
    setup = yaml.safe_load((REPO / "roles/dvr_verify/tasks/setup.yml").read_text())
    task = next(t for t in setup if t["name"].startswith("Check every option"))
    handed = set(task["vars"]["dvr_verify_options"])
    assert {k.removeprefix("dvr_verify_") for k in defaults} | {"strict"} == set(OPTIONS)
    assert handed == set(OPTIONS)


@pytest.mark.parametrize(
    "value", [True, False, 0, 1, "yes", "No", "ON", "off", "TRUE", "false", "1", "0", "maybe", ""]
)
def test_a_flag_reads_as_ansibles_bool_filter_reads_it(value: Any) -> None:
    from ansible.plugins.filter.core import to_bool as ansible_bool

    ours = to_bool(value)
    if ours is None:  # Ansible coerces these with a deprecation warning: refused here
        assert value in ("maybe", "")
    else:
        assert ours is ansible_bool(value)


def test_whole_numbers_given_as_strings_pass_and_their_range_is_checked() -> None:
    check_options({"vms_per_compute": "3", "tcp_port": 8080, "abandon_after": "600"})
    with pytest.raises(OptionError, match=r"dvr_verify_abandon_after: a whole number >= 600"):
        check_options({"abandon_after": "599"})
    with pytest.raises(OptionError, match=r"dvr_verify_ha: true or false \(got 'True \| 1'\)"):
        check_options({"ha": "True | 1"})


def test_netns_with_backend_nova_names_the_combination_not_netns_alone() -> None:
    with pytest.raises(OptionError) as err:
        check_options({"backend": "nova", "vm_access": "netns"})
    assert str(err.value) == (
        "dvr_verify_vm_access netns reaches lab VMs only, and dvr_verify_backend is nova:"
        " set dvr_verify_vm_access to ssh or auto"
    )


# `ip -j addr show dev eth-ext` on the lab's probe host (iproute2 6.1), trimmed.
ETH_EXT = [
    {
        "ifindex": 2,
        "ifname": "eth-ext",
        "operstate": "UP",
        "addr_info": [
            {"family": "inet", "local": "172.30.0.10", "prefixlen": 17, "scope": "global"},
            {"family": "inet6", "local": "fe80::8c1:2ff:fe3a:1", "prefixlen": 64, "scope": "link"},
        ],
    }
]


def probe_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stdin: str, *args: str) -> int:
    """`dvr-verify probe-host` of a run whose preflight found the external subnet 172.30.0.0/17."""
    run = tmp_path / "run"
    run.mkdir(exist_ok=True)
    found = {"external_network_id": "ext", "external_cidrs": ["172.30.0.0/17"], "backend": "lab"}
    (run / "preflight.json").write_text(json.dumps(found))
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(["probe-host", "--run-dir", str(run), "--host", "probe-1", *args])


@pytest.mark.parametrize(
    ("args", "ip_out", "message"),
    [
        (
            ["--interface", "eth9", "--address", "172.30.0.10", "--ip-error",
             'Device "eth9" does not exist.'],
            "",
            "probe host probe-1: no interface eth9 (dvr_verify_probe_interface)",
        ),
        (
            ["--interface", "lo", "--address", "172.30.0.10"],
            json.dumps([{"ifname": "lo", "addr_info": [
                {"family": "inet", "local": "127.0.0.1", "prefixlen": 8}]}]),
            "probe host probe-1: interface lo (dvr_verify_probe_interface) has no address in the"
            " external subnet 172.30.0.0/17 (it has: 127.0.0.1/8)",
        ),
        (
            ["--interface", "eth-ext", "--address", "172.30.0.99"],
            json.dumps(ETH_EXT),
            "probe host probe-1: dvr_verify_probe_address 172.30.0.99 is not eth-ext's address in"
            " the external subnet 172.30.0.0/17 (172.30.0.10)",
        ),
        (
            ["--interface", "eth-ext"],
            json.dumps(ETH_EXT),
            "probe host probe-1: dvr_verify_probe_address is not set: eth-ext's address in the"
            " external subnet is 172.30.0.10",
        ),
    ],
    ids=["no-interface", "no-address-on-the-subnet", "other-address", "no-probe-address"],
)  # fmt: skip
def test_a_probe_interface_without_the_probe_address_is_named_before_provisioning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch, args, ip_out, message
) -> None:
    assert probe_host(tmp_path, monkeypatch, ip_out, *args) == 2
    assert first_error(capsys) == f"dvr-verify: {message}"


def test_the_probe_interface_holding_the_probe_address_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["--interface", "eth-ext", "--address", "172.30.0.10"]
    assert probe_host(tmp_path, monkeypatch, json.dumps(ETH_EXT), *args) == 0, capsys.readouterr()


def test_preflight_reports_the_external_subnets_the_probe_host_is_checked_against() -> None:
    ext = SimpleNamespace(id="ext", name="public", is_router_external=True)
    agents = [
        SimpleNamespace(host="node-11", configuration={"agent_mode": "dvr_snat"}, is_alive=True),
        SimpleNamespace(host="node-12", configuration={"agent_mode": "dvr"}, is_alive=True),
    ]
    network = SimpleNamespace(
        find_extension=lambda name: SimpleNamespace(alias=name),
        agents=lambda **_: agents,
        networks=lambda **_: [ext],
        subnets=lambda network_id: [SimpleNamespace(cidr="172.30.0.0/17")],
    )
    result = preflight(SimpleNamespace(network=network), ["node-12"], None)
    assert result["external_cidrs"] == ["172.30.0.0/17"]


def test_the_probe_interface_is_checked_on_the_probe_host_before_the_sweep() -> None:
    """Read-only on the probe host, in preflight.yml before anything is deleted or created."""
    tasks = yaml.safe_load((REPO / "roles/dvr_verify/tasks/preflight.yml").read_text())
    names = [t["name"] for t in tasks]
    read = tasks[names.index("Read the probe interface on the probe host (ip -j addr, read-only)")]
    assert read["ansible.builtin.command"]["argv"][:5] == ["ip", "-j", "addr", "show", "dev"]
    assert read["delegate_to"] == "{{ dvr_verify_probe_host }}" and read["changed_when"] is False
    stop = names.index("Stop here when the probe interface is wrong")
    assert stop < next(i for i, n in enumerate(names) if n.startswith("Delete the resources"))


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("ping_count", "abc", "a whole number from 1 to 20 (got 'abc')"),
        ("cleanup_confirm", "maybe", "true or false (got 'maybe')"),
        ("arp_timeout", "0", "a number from 0.1 to 30.0 (got '0')"),
        ("keys_dir", ".keys", "an absolute path (got '.keys')"),
        ("trace_destinations", ["gw"], "a list of IP addresses (got ['gw'])"),
        ("probe_address", "probe", "an IP address (or empty) (got 'probe')"),
    ],
)
def test_each_bad_option_is_named_with_what_it_takes(option: str, value: Any, message: str) -> None:
    with pytest.raises(OptionError) as err:
        check_options({option: value})
    assert str(err.value) == f"dvr_verify_{option}: {message}"
