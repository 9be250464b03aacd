"""Bad input (issue 12 items 10-15): each refused in one first line naming what to fix, before
anything is created. openstacksdk is mocked at its boundary with the exceptions it really raises
(keystoneauth1's Unauthorized, openstack.exceptions' ForbiddenException, ConfigException from
openstack.config for a missing cloud)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import openstack
import pytest
from keystoneauth1.exceptions.http import Unauthorized
from openstack import exceptions

from dvr_verify.cli import main
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
