"""Text, JSON and JUnit reports of a run."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from dvr_verify.findings import Finding, Status
from dvr_verify.report import (
    count_statuses,
    counts_line,
    exit_code,
    findings_from_json,
    render_text,
    to_json,
    to_junit,
    write_run,
)

FIP = "172.30.89.152"
FG_NS = "fip-23ee3d3c-4d08-4331-8c9e-14579ebe3485"
FINDINGS = [
    Finding("arp.responders", Status.PASS, FIP, observed="fa:16:3e:72:34:1b"),
    Finding(
        "fg.proxy_arp",
        Status.FAIL,
        FIP,
        node="node-12.example.local",
        namespace=FG_NS,
        device="fg-4b5c7d1e-2a",
        expected="1",
        observed="0",
        hint=f"ip netns exec {FG_NS} sysctl net.ipv4.conf.fg-4b5c7d1e-2a.proxy_arp",
    ),
    Finding(
        "fg.proxy_delay",
        Status.WARN,
        FIP,
        node="node-12.example.local",
        expected="0 or 1",
        observed="80",
        detail="kernel default: the agent did not set it",
        hint="sysctl net.ipv4.neigh.fg-4b5c7d1e-2a.proxy_delay",
    ),
    Finding(
        "egress.source_mac",
        Status.NOT_VERIFIED,
        FIP,
        detail="no capture host configured",
        hint="tcpdump -e -n -i eth0 icmp",
    ),
    Finding("rfp.address", Status.PASS, "b0853bf0-1485-48a3-8d0d-f4f684bca6f8", node="node-11"),
]
ROWS = [
    {
        "fip": IPv4Address(FIP),
        "vm": "vm1 (10.0.111.251)",
        "host": "node-12.example.local",
        "fg_mac": "fa:16:3e:72:34:1b",
        "arp_responders": ["fa:16:3e:72:34:1b"],
        "rfp_fpr": "169.254.127.192/31",
        "hops": [IPv4Address("10.0.111.1"), None, IPv4Address("172.30.0.1")],
        "verdict": "fail",
    }
]


def test_counts_and_exit_code() -> None:
    assert count_statuses(FINDINGS) == {
        Status.PASS: 2,
        Status.FAIL: 1,
        Status.WARN: 1,
        Status.NOT_VERIFIED: 1,
    }
    assert counts_line(FINDINGS) == "2 passed, 1 failed, 1 warnings, 1 not verified"
    assert exit_code(FINDINGS) == 1
    assert exit_code([f for f in FINDINGS if f.status is not Status.FAIL]) == 0
    assert exit_code([]) == 0


def parse_junit(findings: list[Finding]) -> ET.Element:
    return ET.fromstring(to_junit(findings, "dvr-verify lab"))


def test_junit_parses_and_counts() -> None:
    root = parse_junit(FINDINGS)
    suite = root.find("testsuite")
    assert suite is not None
    for element in (root, suite):
        assert element.get("tests") == "5"
        assert element.get("failures") == "1"
        assert element.get("skipped") == "1"
        assert element.get("errors") == "0"
    assert suite.get("name") == "dvr-verify lab"
    cases = suite.findall("testcase")
    assert len(cases) == 5
    assert len(suite.findall("testcase/failure")) == 1
    assert len(suite.findall("testcase/skipped")) == 1


def test_junit_names_and_classnames() -> None:
    cases = parse_junit(FINDINGS).findall("testsuite/testcase")
    assert [(case.get("classname"), case.get("name")) for case in cases] == [
        ("arp", f"{FIP} arp.responders"),
        ("fg", f"{FIP} fg.proxy_arp @ node-12.example.local"),
        ("fg", f"{FIP} fg.proxy_delay @ node-12.example.local"),
        ("egress", f"{FIP} egress.source_mac"),
        ("rfp", "b0853bf0-1485-48a3-8d0d-f4f684bca6f8 rfp.address @ node-11"),
    ]


def test_junit_failure_carries_expected_observed_hint() -> None:
    failure = parse_junit(FINDINGS).find("testsuite/testcase/failure")
    assert failure is not None
    message = failure.get("message", "")
    assert message == FINDINGS[1].line()
    assert "expected 1, observed 0" in message
    assert f"confirm: {FINDINGS[1].hint}" in message
    assert "hint: ip netns exec" in (failure.text or "")


def test_junit_skipped_and_warning() -> None:
    cases = parse_junit(FINDINGS).findall("testsuite/testcase")
    skipped = cases[3].find("skipped")
    assert skipped is not None
    assert "no capture host configured" in skipped.get("message", "")
    warning = cases[2]
    assert warning.find("failure") is None and warning.find("skipped") is None
    assert "observed 80" in (warning.findtext("system-out") or "")
    assert cases[0].find("system-out") is None


def test_junit_duplicate_names_are_made_unique() -> None:
    twice = [
        Finding("qr.mac", Status.PASS, "r1", node="n1", device="qr-a"),
        Finding("qr.mac", Status.PASS, "r1", node="n1", device="qr-b"),
        Finding("qr.mac", Status.PASS, "r1", node="n1", device="qr-b"),
    ]
    names = [case.get("name") for case in parse_junit(twice).iter("testcase")]
    assert names == ["r1 qr.mac @ n1", "r1 qr.mac @ n1 qr-b", "r1 qr.mac @ n1 qr-b #2"]


def test_junit_control_characters_stay_parseable() -> None:
    finding = Finding("ns.read", Status.FAIL, "node-1", observed="bad\x1b[0m\x00byte")
    failure = parse_junit([finding]).find("testsuite/testcase/failure")
    assert failure is not None
    assert "bad\\x1b[0m\\x00byte" in failure.get("message", "")


def test_junit_empty_run() -> None:
    root = parse_junit([])
    assert root.get("tests") == "0"
    assert root.findall("testsuite/testcase") == []


def test_json_round_trip() -> None:
    meta = {"cloud": "lab", "started": "2025-01-01T00:00:00Z", "path": Path("/tmp/run")}
    text = to_json(FINDINGS, ROWS, meta)
    data = json.loads(text)
    assert data["schema"] == 1
    assert data["counts"] == {"pass": 2, "fail": 1, "warn": 1, "not_verified": 1}
    assert data["exit_code"] == 1
    assert data["meta"] == {"cloud": "lab", "started": "2025-01-01T00:00:00Z", "path": "/tmp/run"}
    assert data["summary"][0]["fip"] == FIP
    assert data["summary"][0]["hops"] == ["10.0.111.1", None, "172.30.0.1"]
    assert data["findings"][1]["status"] == "fail"
    assert findings_from_json(text) == FINDINGS


def test_json_refuses_unknown_objects() -> None:
    with pytest.raises(TypeError, match="not JSON serialisable"):
        to_json(FINDINGS, [{"fip": object()}])


def test_text_report() -> None:
    text = render_text(FINDINGS, ROWS)
    lines = text.splitlines()
    assert lines[0] == f"Floating IP {FIP}  [FAIL]"
    assert "  hops            10.0.111.1 -> * -> 172.30.0.1" in lines
    assert "  arp_responders  fa:16:3e:72:34:1b" in lines
    assert "Failures (1)" in lines
    assert "Warnings (1)" in lines
    assert "Not verified (1)" in lines
    assert f"      confirm: {FINDINGS[1].hint}" in lines
    assert "kernel default: the agent did not set it" in text
    assert "rfp.address" not in text  # passes are only counted
    assert lines[-1] == "2 passed, 1 failed, 1 warnings, 1 not verified"


def test_text_report_without_rows_or_problems() -> None:
    text = render_text([FINDINGS[0]])
    assert text == "1 passed, 0 failed, 0 warnings, 0 not verified\n"


def test_write_run(tmp_path: Path) -> None:
    paths = write_run(tmp_path / "run" / "1", FINDINGS, ROWS, {"cloud": "lab"})
    assert {key: path.name for key, path in paths.items()} == {
        "text": "summary.txt",
        "json": "report.json",
        "junit": "junit.xml",
    }
    assert paths["text"].read_text() == render_text(FINDINGS, ROWS)
    assert findings_from_json(paths["json"].read_text()) == FINDINGS
    assert ET.parse(paths["junit"]).getroot().get("tests") == "5"
