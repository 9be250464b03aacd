"""The sweep at the start of every run deletes only abandoned runs (runs.py); cleanup of all still
deletes everything tagged. The fake cloud filters lists by tag as the API does and records deletes;
it stands for the API, not for Neutron's behaviour."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from dvr_verify import cli, runs
from dvr_verify import provision as prov
from dvr_verify.backends.base import KEEP_TAG, TAG, RunTrace, heartbeat_tag, run_tag

NOW = 1_800_000_000.0
BOUND = 3600
KINDS = ("ips", "ports", "routers", "networks", "subnets", "security_groups")


def stamp(when: float) -> str:
    """A time as Neutron and Nova print it."""
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeCloud:
    """Neutron and Nova in one object: lists answer what is left, filtered by the query."""

    def __init__(self) -> None:
        self.items: dict[str, list[SimpleNamespace]] = {k: [] for k in (*KINDS, "servers")}
        self.keys: list[SimpleNamespace] = []
        self.deleted: list[str] = []
        self.calls: list[tuple] = []
        self.network = self.compute = self

    def add_run(self, run_id: str, created: float, beat: float | None, keep: bool = False) -> None:
        """A run as provision leaves it: every kind tagged, the heartbeat on its network, a
        server and a keypair."""
        tags = [TAG, run_tag(run_id), *([KEEP_TAG] if keep else [])]
        for kind in KINDS:
            beats = [heartbeat_tag(beat)] if kind == "networks" and beat is not None else []
            item = SimpleNamespace(
                id=f"{kind}-{run_id}", name=f"{kind}-{run_id}", tags=tags + beats,
                created_at=stamp(created), floating_ip_address=f"fip-{run_id}",
                device_id="", device_owner="", fixed_ips=[],
            )  # fmt: skip
            self.items[kind].append(item)
        server = SimpleNamespace(
            id=f"server-{run_id}", name=f"server-{run_id}",
            metadata={TAG: run_tag(run_id)}, created_at=stamp(created),
        )  # fmt: skip
        self.items["servers"].append(server)
        self.keys.append(SimpleNamespace(name=f"dvrv-{run_id}", created_at=None))

    def left(self) -> set[str]:
        """The run ids something is left of."""
        names = [i.name for items in self.items.values() for i in items]
        return {n.split("-", 1)[1] for n in names} | {k.name[5:] for k in self.keys}

    def has_service(self, name: str) -> bool:
        return name == "compute"

    def _list(self, kind: str, query: dict) -> list[SimpleNamespace]:
        tag = query.pop("tags", None)
        return [
            i
            for i in self.items[kind]
            if (tag is None or tag in i.tags) and all(getattr(i, k) == v for k, v in query.items())
        ]

    def ips(self, **query):
        return self._list("ips", query)

    def ports(self, **query):
        return self._list("ports", query)

    def routers(self, **query):
        return self._list("routers", query)

    def networks(self, **query):
        return self._list("networks", query)

    def subnets(self, **query):
        return self._list("subnets", query)

    def security_groups(self, **query):
        return self._list("security_groups", query)

    def servers(self, **_query):
        return list(self.items["servers"])

    def keypairs(self):
        return list(self.keys)

    def _delete(self, kind: str, item: SimpleNamespace) -> None:
        self.items[kind] = [i for i in self.items[kind] if i.id != item.id]
        self.deleted.append(item.name)

    def delete_ip(self, item, ignore_missing=True):
        self._delete("ips", item)

    def delete_port(self, item, ignore_missing=True):
        self._delete("ports", item)

    def delete_router(self, item, ignore_missing=True):
        self._delete("routers", item)

    def delete_network(self, item, ignore_missing=True):
        self._delete("networks", item)
        self.items["subnets"] = [s for s in self.items["subnets"] if s.id[8:] != item.id[9:]]

    def delete_security_group(self, item, ignore_missing=True):
        self._delete("security_groups", item)

    def delete_server(self, item, ignore_missing=True):
        self._delete("servers", item)

    def find_server(self, server_id, ignore_missing=True):
        return next((s for s in self.items["servers"] if s.id == server_id), None)

    def delete_keypair(self, key, ignore_missing=True):
        self.keys.remove(key)
        self.deleted.append(key.name)

    def update_router(self, router, **kw):
        self.calls.append(("update_router", router.name))

    def find_network(self, network_id, ignore_missing=True):
        return next((n for n in self.items["networks"] if n.id == network_id), None)

    def add_tag(self, resource, tag):
        self.calls.append(("add_tag", resource.name, tag))
        resource.tags.append(tag)

    def remove_tag(self, resource, tag):
        self.calls.append(("remove_tag", resource.name, tag))
        resource.tags.remove(tag)


def sweep(cloud: FakeCloud, spare: tuple[str, ...] = ()) -> list[str]:
    return runs.sweep(cloud, NOW, BOUND, spare=spare)


def test_the_sweep_spares_a_kept_run_however_old() -> None:
    cloud = FakeCloud()
    cloud.add_run("20260101000000-aaaa", created=NOW - 86400, beat=NOW - 86400, keep=True)
    lines = sweep(cloud)
    assert lines == [f"run 20260101000000-aaaa spared: kept (tag {KEEP_TAG})"]
    assert cloud.deleted == [] and cloud.left() == {"20260101000000-aaaa"}


def test_the_sweep_spares_a_run_whose_heartbeat_is_fresh() -> None:
    """Made two hours ago (another operator's long run), its heartbeat 40 s old: in progress."""
    cloud = FakeCloud()
    cloud.add_run("20260101000000-bbbb", created=NOW - 7200, beat=NOW - 40)
    lines = sweep(cloud)
    assert lines == [
        "run 20260101000000-bbbb spared: in progress (heartbeat 40 s ago, bound 3600 s)"
    ]
    assert cloud.deleted == []


def test_the_sweep_deletes_a_run_whose_heartbeat_is_older_than_the_bound_and_only_it() -> None:
    cloud = FakeCloud()
    cloud.add_run("old", created=NOW - 7200, beat=NOW - BOUND - 1)
    cloud.add_run("new", created=NOW - 100, beat=NOW - 100)
    foreign = SimpleNamespace(id="s9", name="someone", metadata={}, created_at=stamp(NOW - 9e4))
    cloud.items["servers"].append(foreign)
    cloud.keys.append(SimpleNamespace(name="ops-key", created_at=None))
    lines = sweep(cloud)
    assert lines[0] == "run new spared: in progress (heartbeat 100 s ago, bound 3600 s)"
    assert lines[1] == "run old abandoned (heartbeat 3601 s ago): deleting"
    assert "server server-old" in lines and "keypair dvrv-old" in lines
    assert foreign in cloud.items["servers"] and "ops-key" in [k.name for k in cloud.keys]
    cloud.items["servers"].remove(foreign)
    cloud.keys.pop()
    assert cloud.left() == {"new"}
    assert sorted(cloud.deleted) == sorted(
        [f"{kind}-old" for kind in KINDS if kind != "subnets"] + ["server-old", "dvrv-old"]
    )


def test_a_run_cut_short_before_its_first_heartbeat_ages_by_its_resources() -> None:
    cloud = FakeCloud()
    cloud.add_run("cut-old", created=NOW - BOUND - 60, beat=None)
    cloud.add_run("cut-new", created=NOW - 60, beat=None)
    sweep(cloud)
    assert cloud.left() == {"cut-new"}


def test_the_sweep_spares_the_current_run() -> None:
    cloud = FakeCloud()
    cloud.add_run("mine", created=NOW - 86400, beat=NOW - 86400)
    assert sweep(cloud, spare=("mine",)) == ["run mine spared: this run"]
    assert cloud.deleted == []


def run_dir(tmp_path: Path, run_id: str, **settings) -> Path:
    (tmp_path / "run.json").write_text(json.dumps({"run_id": run_id, "cloud": "c", **settings}))
    return tmp_path


def test_the_sweep_step_spares_its_own_run_and_uses_the_runs_bound(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    """`dvr-verify sweep --run-dir D`, the role's preflight: D's run is never deleted, and the
    bound is D's dvr_verify_abandon_after."""
    cloud = FakeCloud()
    cloud.add_run("mine", created=NOW - 86400, beat=NOW - 86400)
    cloud.add_run("other", created=NOW - 5000, beat=NOW - 5000)
    cloud.add_run("stale", created=NOW - 9000, beat=NOW - 9000)
    monkeypatch.setattr(cli, "connect", lambda _cloud: cloud)
    monkeypatch.setattr(cli.time, "time", lambda: NOW)
    path = run_dir(tmp_path, "mine", abandon_after=6000)
    assert cli.main(["sweep", "--run-dir", str(path)]) == 0
    out = capsys.readouterr().out
    assert "run mine spared: this run" in out
    assert "run other spared: in progress (heartbeat 5000 s ago, bound 6000 s)" in out
    assert cloud.left() == {"mine", "other"}


def test_cleanup_of_all_runs_still_deletes_every_run(monkeypatch, capsys) -> None:
    """`dvr-verify cleanup --cloud X` (make cleanup): kept, in progress and abandoned alike."""
    cloud = FakeCloud()
    cloud.add_run("kept", created=NOW - 86400, beat=NOW - 86400, keep=True)
    cloud.add_run("busy", created=NOW - 10, beat=NOW - 10)
    cloud.add_run("stale", created=NOW - 9000, beat=NOW - 9000)
    monkeypatch.setattr(cli, "connect", lambda _cloud: cloud)
    assert cli.main(["cleanup", "--cloud", "c"]) == 0
    assert cloud.left() == set()
    assert "keypair dvrv-kept" in capsys.readouterr().out


def test_cleanup_abandoned_is_the_sweep_for_a_cloud(monkeypatch, capsys) -> None:
    cloud = FakeCloud()
    cloud.add_run("busy", created=NOW - 700, beat=NOW - 700)
    cloud.add_run("stale", created=NOW - 9000, beat=NOW - 9000)
    monkeypatch.setattr(cli, "connect", lambda _cloud: cloud)
    monkeypatch.setattr(cli.time, "time", lambda: NOW)
    assert cli.main(["cleanup", "--cloud", "c", "--abandoned", "--older-than", "800"]) == 0
    assert cloud.left() == {"busy"}
    assert cli.main(["cleanup", "--cloud", "c", "--abandoned", "--older-than", "600"]) == 0
    assert cloud.left() == set()
    assert cli.main(["cleanup", "--cloud", "c", "--abandoned", "--older-than", "59"]) == 2
    assert "--older-than: 600 seconds or more" in capsys.readouterr().err


def test_the_heartbeat_is_replaced_new_tag_first() -> None:
    """The run is never without a heartbeat: the new tag is added before the old one goes."""
    cloud = FakeCloud()
    cloud.add_run("r1", created=NOW - 100, beat=NOW - 100)
    assert runs.touch_heartbeat(cloud, "networks-r1", NOW)
    assert cloud.calls == [
        ("add_tag", "networks-r1", heartbeat_tag(NOW)),
        ("remove_tag", "networks-r1", heartbeat_tag(NOW - 100)),
    ]
    assert runs.touch_heartbeat(cloud, "gone", NOW) is False
    assert runs.touch_heartbeat(cloud, "", NOW) is False


def test_provision_tags_the_network_with_a_heartbeat_and_a_kept_run_everywhere() -> None:
    tagged: list[tuple[str, list[str]]] = []

    class Network:
        def set_tags(self, resource, tags):
            tagged.append((resource.name, tags))

        def __getattr__(self, method: str):
            return lambda *a, **kw: SimpleNamespace(
                id=method, name=kw.get("name", method), mtu=1450, gateway_ip="10.0.111.1",
                mac_address="m", fixed_ips=[{"ip_address": "10.0.111.9"}],
                floating_ip_address="172.30.0.9",
            )  # fmt: skip

    conn = SimpleNamespace(network=Network())
    vms = [prov.PlannedVM("c1", "node-12", True)]
    done = prov.provision(conn, "r1", vms, "ext", keep=True)
    assert done.kept
    network_tags = dict(tagged)["dvrv-r1-net"]
    beats = [t for t in network_tags if t.startswith("dvr-verify-heartbeat-")]
    assert len(beats) == 1 and abs(int(beats[0].rsplit("-", 1)[1]) - time.time()) < 60
    assert all({TAG, run_tag("r1"), KEEP_TAG} <= set(tags) for _, tags in tagged)
    tagged.clear()
    prov.provision(conn, "r2", vms, "ext")
    assert all(KEEP_TAG not in tags for _, tags in tagged)


def test_resources_of_no_run_are_left_to_make_cleanup() -> None:
    cloud = FakeCloud()
    cloud.add_run("x", created=NOW - 9000, beat=None)
    for items in cloud.items.values():
        for item in items:
            item.tags = [TAG]
            item.metadata = {}
    cloud.items["servers"].clear()
    cloud.keys.clear()
    assert sweep(cloud) == [f"6 resources tagged {TAG} of no run spared (make cleanup)"]
    assert cloud.deleted == []


@pytest.mark.parametrize(
    ("traces", "abandoned"),
    [
        ([], False),
        ([RunTrace("r", "port p")], False),
        ([RunTrace("r", "port p", created=NOW - BOUND)], False),
        ([RunTrace("r", "port p", created=NOW - BOUND - 1)], True),
        ([RunTrace("r", "port p", created=NOW - 9e3, heartbeat=NOW - 10)], False),
        ([RunTrace("r", "p", created=NOW - 9e3), RunTrace("r", "q", kept=True)], False),
    ],
)
def test_the_definition_of_abandoned(traces, abandoned: bool) -> None:
    assert runs.abandoned(traces, NOW, BOUND) is abandoned


def test_a_long_wait_refreshes_the_heartbeat_once_a_minute() -> None:
    cloud = FakeCloud()
    cloud.add_run("r1", created=NOW, beat=NOW)
    now = [NOW]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    beating = runs.heartbeat_sleep(cloud, "networks-r1", sleep=sleep, clock=lambda: now[0])
    for _ in range(6):
        beating(20.0)
    added = [call[2] for call in cloud.calls if call[0] == "add_tag"]
    assert added == [heartbeat_tag(NOW + 60), heartbeat_tag(NOW + 120)]
    beats = [t for t in cloud.find_network("networks-r1").tags if t.startswith("dvr-verify-heart")]
    assert beats == [heartbeat_tag(NOW + 120)]


def test_the_run_steps_that_reach_the_cloud_refresh_its_heartbeat(
    tmp_path: Path, monkeypatch
) -> None:
    """`wait` and `snapshot --run-dir` of a run that made resources; an audit's snapshot (no
    resources.json) touches nothing."""
    cloud = FakeCloud()
    cloud.add_run("r1", created=NOW - 500, beat=NOW - 500)
    monkeypatch.setattr(cli, "connect", lambda _cloud: cloud)
    snapshot = {**{key: [] for key in cli.RESOURCES}, "router_l3_agents": {}}
    monkeypatch.setattr(cli, "fetch_snapshot", lambda _conn: snapshot)
    (tmp_path / "audit").mkdir()
    audit = run_dir(tmp_path / "audit", "a1")
    assert cli.main(["snapshot", "--run-dir", str(audit)]) == 0
    assert cloud.calls == []
    path = run_dir(tmp_path, "r1")
    resources = {"run_id": "r1", "tag": run_tag("r1"), "network_id": "networks-r1"}
    (path / "resources.json").write_text(json.dumps(resources))
    assert cli.main(["wait", "--run-dir", str(path)]) == 0
    assert [c[0] for c in cloud.calls] == ["add_tag", "remove_tag"]
    cloud.calls.clear()
    assert cli.main(["snapshot", "--run-dir", str(path)]) == 0
    assert cloud.calls and cloud.calls[0][0] == "add_tag"
