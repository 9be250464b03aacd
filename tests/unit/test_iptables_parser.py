"""Unit tests for module_utils/dvr_iptables.py against the neutron-29-lab captures."""

from pathlib import Path

import pytest
from dvr_iptables import has_neutron_chains, parse_iptables_save, parse_rule
from garbage import raises_value_error

LAB = Path(__file__).resolve().parent.parent / "fixtures" / "neutron-29-lab"
ROUTER = "b0853bf0-1485-48a3-8d0d-f4f684bca6f8"
EXTNET = "23ee3d3c-4d08-4331-8c9e-14579ebe3485"
SAVE_FILES = sorted(LAB.glob("*/netns/*/iptables-save.txt"))
LEGACY_FILES = sorted(LAB.glob("*/netns/*/iptables-legacy-save.txt"))


def load(host: str, ns: str, name: str = "iptables-save.txt") -> dict:
    return parse_iptables_save((LAB / host / "netns" / ns / name).read_text())


def test_fixtures_present():
    assert len(SAVE_FILES) == 5
    assert len(LEGACY_FILES) == 5


@pytest.mark.parametrize("path", SAVE_FILES, ids=lambda p: f"{p.parts[-4]}/{p.parts[-2]}")
def test_every_save_fixture_parses(path):
    text = path.read_text()
    tables = parse_iptables_save(text)
    assert set(tables) == {"mangle", "raw", "filter", "nat"}
    lines = text.splitlines()
    assert sum(len(t["chains"]) for t in tables.values()) == sum(
        1 for line in lines if line.startswith(":")
    )
    assert sum(len(c["rules"]) for t in tables.values() for c in t["chains"].values()) == sum(
        1 for line in lines if line.startswith("-A ")
    )
    assert has_neutron_chains(tables)
    for table in tables.values():
        for name, chain in table["chains"].items():
            assert chain["policy"] == (None if name.startswith("neutron-") else "ACCEPT")
            for rule in chain["rules"]:
                assert f"-A {name} {rule['raw']}" in lines
                assert rule["target"] == rule["options"]["-j"]


@pytest.mark.parametrize("path", LEGACY_FILES, ids=lambda p: f"{p.parts[-4]}/{p.parts[-2]}")
def test_empty_legacy_fixture(path):
    assert path.read_text() == ""
    tables = parse_iptables_save(path.read_text())
    assert tables == {}
    assert not has_neutron_chains(tables)


def test_node12_qrouter_nat_dnat():
    nat = load("node-12.example.local", f"qrouter-{ROUTER}")["nat"]
    (rule,) = nat["chains"]["neutron-l3-agent-PREROUTING"]["rules"]
    assert rule == {
        "raw": "-d 172.30.89.152/32 -i rfp-b0853bf0-1 -j DNAT --to-destination 10.0.111.251",
        "target": "DNAT",
        "options": {
            "-d": "172.30.89.152/32",
            "-i": "rfp-b0853bf0-1",
            "-j": "DNAT",
            "--to-destination": "10.0.111.251",
        },
        "matches": [],
        "negated": [],
    }


def test_node12_qrouter_nat_float_snat():
    chains = load("node-12.example.local", f"qrouter-{ROUTER}")["nat"]["chains"]
    (rule,) = chains["neutron-l3-agent-float-snat"]["rules"]
    assert rule["target"] == "SNAT"
    assert rule["options"] == {
        "-s": "10.0.111.251/32",
        "-j": "SNAT",
        "--to-source": "172.30.89.152",
        "--random-fully": "",
    }
    assert rule["negated"] == []
    assert chains["neutron-l3-agent-float-snat"]["policy"] is None
    assert chains["POSTROUTING"]["policy"] == "ACCEPT"


def test_node12_qrouter_nat_negations():
    chains = load("node-12.example.local", f"qrouter-{ROUTER}")["nat"]["chains"]
    (rule,) = chains["neutron-l3-agent-POSTROUTING"]["rules"]
    assert rule["raw"] == "! -o rfp-b0853bf0-1 -m conntrack ! --ctstate DNAT -j ACCEPT"
    assert rule["options"] == {
        "-o": "rfp-b0853bf0-1",
        "-m": "conntrack",
        "--ctstate": "DNAT",
        "-j": "ACCEPT",
    }
    assert rule["negated"] == ["-o", "--ctstate"]
    assert rule["matches"] == ["conntrack"]


def test_node12_qrouter_nat_quoted_comment():
    chains = load("node-12.example.local", f"qrouter-{ROUTER}")["nat"]["chains"]
    (rule,) = chains["neutron-postrouting-bottom"]["rules"]
    assert rule["options"]["--comment"] == "Perform source NAT on outgoing traffic."
    assert rule["options"]["-m"] == "comment"
    assert rule["matches"] == ["comment"]
    assert rule["target"] == "neutron-l3-agent-snat"


def test_node12_qrouter_mangle_negated_mark_and_multiword_values():
    chains = load("node-12.example.local", f"qrouter-{ROUTER}")["mangle"]["chains"]
    rule = chains["neutron-l3-agent-PREROUTING"]["rules"][2]
    assert rule["target"] == "CONNMARK"
    assert rule["negated"] == ["--mark"]
    assert rule["options"]["--mark"] == "0x0/0xffff0000"
    assert rule["options"]["--restore-mark"] == ""
    assert rule["options"]["--ctmask"] == "0xffff0000"
    metadata = chains["neutron-l3-agent-PREROUTING"]["rules"][4]
    assert metadata["options"]["-p"] == "tcp"
    assert metadata["options"]["--dport"] == "80"
    assert metadata["options"]["-i"] == "qr-+"
    assert metadata["matches"] == ["tcp"]


def test_node12_fip_raw_notrack():
    raw = load("node-12.example.local", f"fip-{EXTNET}")["raw"]
    (rule,) = raw["chains"]["neutron-l3-agent-PREROUTING"]["rules"]
    assert rule["target"] == "CT"
    assert rule["options"] == {"-j": "CT", "--notrack": ""}


def test_repeated_match_keeps_last_value_and_all_modules():
    # From the node-12 qrouter mangle table, with a second -m added.
    rule = parse_rule(
        "-d 169.254.169.254/32 -i qr-+ -p tcp -m tcp --dport 80 -m comment "
        '--comment "metadata redirect" -j MARK --set-xmark 0x1/0xffff'
    )
    assert rule["options"]["-m"] == "comment"
    assert rule["matches"] == ["tcp", "comment"]
    assert rule["options"]["--comment"] == "metadata redirect"
    assert rule["options"]["--set-xmark"] == "0x1/0xffff"


def test_long_options_and_counters_prefix():
    text = (
        "*nat\n"
        ":neutron-l3-agent-PREROUTING - [0:0]\n"
        "[3:180] -A neutron-l3-agent-PREROUTING --destination 172.30.89.152/32 "
        "--in-interface rfp-b0853bf0-1 --jump DNAT --to-destination 10.0.111.251\n"
        "COMMIT\n"
    )
    (rule,) = parse_iptables_save(text)["nat"]["chains"]["neutron-l3-agent-PREROUTING"]["rules"]
    assert rule["options"] == {
        "-d": "172.30.89.152/32",
        "-i": "rfp-b0853bf0-1",
        "-j": "DNAT",
        "--to-destination": "10.0.111.251",
    }
    assert rule["target"] == "DNAT"


def test_rule_without_target():
    text = "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD\n-A FORWARD -i qr-+\nCOMMIT\n"
    rules = parse_iptables_save(text)["filter"]["chains"]["FORWARD"]["rules"]
    assert [(r["raw"], r["target"], r["options"]) for r in rules] == [
        ("", None, {}),
        ("-i qr-+", None, {"-i": "qr-+"}),
    ]


def test_has_neutron_chains_false_for_plain_tables():
    tables = parse_iptables_save("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT\nCOMMIT\n")
    assert not has_neutron_chains(tables)
    assert has_neutron_chains(parse_iptables_save("*filter\n:neutron-filter-top - [0:0]\nCOMMIT\n"))


GARBAGE = [
    ("-A INPUT -j ACCEPT\n", "line outside a table"),
    ("*nat\n:PREROUTING\nCOMMIT\n", "malformed chain line"),
    ("*nat\nthis is not iptables-save\nCOMMIT\n", "not a table, chain, rule or COMMIT line"),
    ('*nat\n-A X -m comment --comment "unterminated\nCOMMIT\n', "cannot split rule"),
    ("*nat\n-A X -j ACCEPT stray ! \nCOMMIT\n", "'!' not followed by an option"),
    ("*nat\n-A X ACCEPT\nCOMMIT\n", "unexpected argument"),
]


test_garbage_raises_value_error = raises_value_error(parse_iptables_save, GARBAGE)


def test_garbage_recorded_in_errors_list_and_skipped():
    text = (
        "*nat\n"
        ":neutron-l3-agent-snat - [0:0]\n"
        "garbage line\n"
        "-A neutron-l3-agent-snat -j neutron-l3-agent-float-snat\n"
        "COMMIT\n"
    )
    errors: list = []
    tables = parse_iptables_save(text, errors=errors)
    assert errors == [
        {"line": 3, "text": "garbage line", "error": "not a table, chain, rule or COMMIT line"}
    ]
    (rule,) = tables["nat"]["chains"]["neutron-l3-agent-snat"]["rules"]
    assert rule["target"] == "neutron-l3-agent-float-snat"
