"""Preflight refuses, in one line naming what to fix, a cloud that cannot run a DVR verification."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from openstack import exceptions

from dvr_verify.provision import PreflightError, preflight


class FakeNetwork:
    def __init__(self, *, dvr=True, agents=None, nets=None, forbidden=False):
        self.dvr, self.forbidden = dvr, forbidden
        self._agents = (
            agents
            if agents is not None
            else [agent("node-11.example.local", "dvr_snat"), agent("node-12.example.local", "dvr")]
        )
        self._nets = (
            nets
            if nets is not None
            else [SimpleNamespace(id="ext", name="public", is_router_external=True)]
        )

    def find_extension(self, name):
        return SimpleNamespace(alias=name) if self.dvr else None

    def agents(self, **_):
        if self.forbidden:
            raise exceptions.ForbiddenException("403")
        return self._agents

    def networks(self, **_):
        return self._nets

    def subnets(self, network_id):
        return [SimpleNamespace(cidr="172.30.0.0/16", network_id=network_id)]

    def find_network(self, name, ignore_missing=True):
        return next((n for n in self._nets if name in (n.id, n.name)), None)


def agent(host: str, mode: str, alive: bool = True) -> SimpleNamespace:
    return SimpleNamespace(host=host, configuration={"agent_mode": mode}, is_alive=alive)


def run(**kw):
    hosts = kw.pop("hosts", ["node-12.example.local"])
    return preflight(SimpleNamespace(network=FakeNetwork(**kw)), hosts, kw.pop("ext", None))


def test_a_dvr_cloud_passes() -> None:
    result = run()
    assert result["external_network_id"] == "ext"
    assert result["external_cidrs"] == ["172.30.0.0/16"]
    assert result["agent_modes"]["node-11.example.local"] == "dvr_snat"


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"dvr": False}, "no 'dvr' API extension"),
        ({"forbidden": True}, "not admin"),
        ({"agents": [agent("node-12.example.local", "legacy")]}, "not a DVR cloud"),
        ({"agents": [agent("node-12.example.local", "dvr")]}, "no L3 agent in dvr_snat mode"),
        ({"hosts": ["node-99.example.local"]}, "no L3 agent on node-99.example.local"),
        (
            {
                "agents": [
                    agent("node-11.example.local", "dvr_snat"),
                    agent("node-12.example.local", "dvr", alive=False),
                ]
            },
            "L3 agent down",
        ),
        ({"nets": []}, "choose the external network"),
    ],
)
def test_each_refusal_is_one_line(kw, message) -> None:
    with pytest.raises(PreflightError, match=message) as err:
        run(**kw)
    assert "\n" not in str(err.value)
