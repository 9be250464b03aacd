"""`dvr-verify check` on the real capture: green, red on a fault, one line on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from capture_loader import LAB29, LAB29_HOSTS, load_capture

from dvr_verify.cli import main


@pytest.fixture
def nodes_dir(tmp_path: Path) -> Path:
    """<neutron host>.json per node, as the collect play writes them."""
    out = tmp_path / "nodes"
    out.mkdir()
    for host in LAB29_HOSTS:
        (out / f"{host}.json").write_text(json.dumps(load_capture(LAB29 / host)))
    return out


def test_check_green_writes_reports(nodes_dir: Path, tmp_path: Path, capsys) -> None:
    rc = main(
        [
            "check",
            "--api",
            str(LAB29 / "api"),
            "--nodes",
            str(nodes_dir),
            "--out",
            str(tmp_path / "run"),
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "0 failed" in out
    junit = (tmp_path / "run" / "junit.xml").read_text()
    assert "<testcase" in junit and "<failure" not in junit


def test_check_red_on_fault(nodes_dir: Path, capsys) -> None:
    path = nodes_dir / "node-12.example.local.json"
    doc = json.loads(path.read_text())
    fip_ns = next(n for n in doc["namespaces"] if n["name"].startswith("fip-"))
    fip_ns["sysctls"]["net.ipv4.conf.fg-b7803143-75.proxy_arp"] = "0"
    path.write_text(json.dumps(doc))
    rc = main(["check", "--api", str(LAB29 / "api"), "--nodes", str(nodes_dir)])
    out = capsys.readouterr().out
    assert rc == 1
    assert "fg.proxy_arp" in out and "node-12.example.local" in out


def test_bad_input_is_one_line(tmp_path: Path, capsys) -> None:
    rc = main(["check", "--api", str(LAB29 / "api"), "--nodes", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert err.count("\n") == 0 and "no <host>.json collector results" in err


def test_check_needs_a_source(nodes_dir: Path, capsys) -> None:
    assert main(["check", "--nodes", str(nodes_dir)]) == 2
    assert "--api DIR" in capsys.readouterr().err


def test_each_phase_lasts_until_the_next_one_starts() -> None:
    from dvr_verify.cli import phase_seconds

    starts = {"probe": 130.0, "provision": 100.0, "check": 134.5, "collect": 128.25}
    assert phase_seconds(starts, end=135.0) == {
        "provision": 28.25,
        "collect": 1.75,
        "probe": 4.5,
        "check": 0.5,
    }


def test_results_on_stdin_are_saved_without_ansibles_keys_then_checked(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    import io

    nodes = {}
    for host in LAB29_HOSTS:
        result = load_capture(LAB29 / host)
        result.update({"changed": False, "invocation": {"module_args": {}}, "ansible_job_id": "j1"})
        nodes[host] = result
    probes = {"arp": {"arp": [], "ansible_job_id": "j2", "finished": 1}}
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps({"nodes": nodes, "probes": probes})))
    run = tmp_path / "run"
    argv = ["check", "--api", str(LAB29 / "api"), "--nodes", str(run / "nodes")]
    rc = main([*argv, "--probe-dir", str(run / "probes"), "--results-stdin"])
    assert rc == 0, capsys.readouterr().out
    saved = json.loads((run / "nodes" / f"{LAB29_HOSTS[0]}.json").read_text())
    assert "namespaces" in saved and not {"changed", "invocation", "ansible_job_id"} & set(saved)
    assert json.loads((run / "probes" / "arp.json").read_text()) == {"arp": []}


def test_a_result_name_cannot_escape_the_run_directory(tmp_path: Path, capsys, monkeypatch) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps({"nodes": {"../x": {}}})))
    rc = main(["check", "--api", str(LAB29 / "api"), "--nodes", str(tmp_path), "--results-stdin"])
    assert rc == 2 and "bad result name" in capsys.readouterr().err


def test_vms_ssh_did_not_reach_are_not_verified_not_failed() -> None:
    from dvr_verify.cli import unreached_findings
    from dvr_verify.findings import Status

    resources = {
        "vms": [
            {"name": "c1", "ip": "10.0.111.5", "fip": "172.30.89.10"},
            {"name": "nofip", "ip": "10.0.111.6", "fip": None},
        ]
    }
    found = unreached_findings(resources, ["nofip"])
    assert {(f.check, f.subject, f.status) for f in found} == {
        ("egress.source", "nofip 10.0.111.6", Status.NOT_VERIFIED),
        ("trace.path", "nofip 10.0.111.6", Status.NOT_VERIFIED),
    }


def test_nova_provision_boots_with_the_public_key_run_json_names(tmp_path: Path, capsys) -> None:
    from dvr_verify.cli import _nova_spec
    from dvr_verify.rundir import RunSettings

    key = tmp_path / "keys" / "r1" / "id_ed25519.pub"
    key.parent.mkdir(parents=True)
    key.write_text("ssh-ed25519 AAAA dvr-verify-r1\n")
    found = {"backend": "nova", "image_id": "img", "flavor_id": "flv", "external_network_id": "e"}
    settings = RunSettings(run_id="r1", cloud="c", ssh_public_key=str(key))
    assert _nova_spec(settings, found).public_key == "ssh-ed25519 AAAA dvr-verify-r1"
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"run_id": "r1", "cloud": "c", "backend": "nova"}))
    (run / "preflight.json").write_text(json.dumps(found))
    assert main(["provision", "--run-dir", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "ssh_public_key (run.json): missing" in err
