"""Unit tests for module_utils/dvr_ovs_flows.py against the neutron-29-lab captures."""

from pathlib import Path

import pytest
from dvr_ovs_flows import (
    DEFAULT_PRIORITY,
    canonical_actions,
    flows_by_table,
    parse_dump_flows,
    parse_flow,
    split_actions,
)
from garbage import raises_value_error

LAB = Path(__file__).resolve().parent.parent / "fixtures" / "neutron-29-lab"
FLOW_FILES = sorted(LAB.glob("*/ovs/flows-*.txt"))
DEFAULT_FILES = [p for p in FLOW_FILES if not p.name.endswith(".of13.txt")]


def file_id(path: Path) -> str:
    return f"{path.parts[-3]}/{path.name}"


def load(host: str, name: str) -> list:
    return parse_dump_flows((LAB / host / "ovs" / name).read_text())


def signature(flows: list) -> set:
    return {
        (f["table"], f["priority"], tuple(sorted(f["match"].items())), tuple(f["actions"]))
        for f in flows
    }


def test_fixtures_present():
    assert len(FLOW_FILES) == 12
    assert len(DEFAULT_FILES) == 6


@pytest.mark.parametrize("path", FLOW_FILES, ids=file_id)
def test_every_flows_fixture_parses(path):
    text = path.read_text()
    lines = [line for line in text.splitlines() if line.strip()]
    flow_lines = [line for line in lines if "_FLOW reply" not in line]
    if path.name.endswith(".of13.txt"):
        assert len(flow_lines) == len(lines)  # --no-stats: no header
    else:
        assert lines[0] == "NXST_FLOW reply (xid=0x4):"
    flows = parse_dump_flows(text)
    assert len(flows) == len(flow_lines) > 0
    for flow, line in zip(flows, flow_lines, strict=True):
        assert set(flow) == {"table", "priority", "cookie", "match", "actions", "raw"}
        assert flow["cookie"] == line.split(",")[0].strip().removeprefix("cookie=")
        assert "n_packets" not in flow["raw"]
        assert "duration" not in flow["raw"]
        assert "idle_age" not in flow["raw"]
        assert flow["actions"]


@pytest.mark.parametrize("path", DEFAULT_FILES, ids=file_id)
def test_default_and_of13_dumps_normalise_to_the_same_flows(path):
    default = parse_dump_flows(path.read_text())
    of13 = parse_dump_flows(path.with_name(path.name.replace(".txt", ".of13.txt")).read_text())
    assert len(default) == len(of13)
    assert signature(default) == signature(of13)
    assert len(signature(default)) == len(default)  # no two flows collapse into one


def test_node12_br_int_table0_dl_dst_to_table4():
    for name in ("flows-br-int.txt", "flows-br-int.of13.txt"):
        table0 = flows_by_table(load("node-12.example.local", name))[0]
        hits = [
            f
            for f in table0
            if f["priority"] == 5 and f["match"] == {"in_port": "1", "dl_dst": "fa:16:3f:9e:52:68"}
        ]
        assert len(hits) == 1, name
        assert hits[0]["actions"] == ["resubmit(,4)"]
        assert hits[0]["cookie"] == "0x510e5047081aea74"


def test_node12_br_int_table2_mod_dl_src():
    for name in ("flows-br-int.txt", "flows-br-int.of13.txt"):
        table2 = flows_by_table(load("node-12.example.local", name))[2]
        assert [(f["priority"], f["match"], f["actions"]) for f in table2] == [
            (
                20,
                {"dl_vlan": "182", "dl_dst": "fa:16:3e:a1:d9:da"},
                ["mod_dl_src:fa:16:3e:7a:f3:81", "resubmit(,58)"],
            ),
            (
                20,
                {"dl_vlan": "182", "dl_dst": "fa:16:3e:4b:9c:e3"},
                ["mod_dl_src:fa:16:3e:7a:f3:81", "resubmit(,58)"],
            ),
            (1, {}, ["drop"]),
        ]


def test_node12_br_int_raw_and_protocol_words():
    flows = load("node-12.example.local", "flows-br-int.txt")
    arp = flows[1]
    assert arp["raw"] == (
        "cookie=0x510e5047081aea74, table=0, priority=99,arp,dl_dst=fa:16:3f:9e:52:68,"
        "arp_op=2,arp_tha=fa:16:3e:7a:f3:81 actions=mod_dl_dst:fa:16:3e:7a:f3:81,resubmit(,58)"
    )
    assert arp["match"] == {
        "arp": "",
        "dl_dst": "fa:16:3f:9e:52:68",
        "arp_op": "2",
        "arp_tha": "fa:16:3e:7a:f3:81",
    }
    nd = flows_by_table(flows)[24][0]
    assert nd["match"] == {
        "icmp6": "",
        "in_port": "3",
        "icmp_type": "136",
        "nd_target": "fe80::f816:3eff:fea1:d9da",
    }


def test_of13_defaults_table_and_raw():
    flows = load("node-12.example.local", "flows-br-int.of13.txt")
    assert flows[0]["table"] == 0
    assert flows[0]["raw"] == "cookie=0x510e5047081aea74, priority=65535,dl_vlan=4095 actions=drop"
    # table 4: set_field eth_dst + pop_vlan -> OF1.0 spelling.
    (table4,) = flows_by_table(flows)[4]
    assert table4["actions"] == ["mod_dl_dst:fa:16:3e:7a:f3:81", "strip_vlan", "output:4"]


def test_vlan_push_and_set_field_normalise_to_mod_vlan_vid():
    of13 = flows_by_table(load("node-12.example.local", "flows-br-int.of13.txt"))[0]
    default = flows_by_table(load("node-12.example.local", "flows-br-int.txt"))[0]
    for flows in (of13, default):
        by_port = {f["match"]["in_port"]: f for f in flows if f["priority"] == 3}
        assert by_port["1"]["actions"] == ["mod_vlan_vid:1", "resubmit(,58)"]
        assert by_port["2"]["match"]["vlan_tci"] == "0x0000/0x1fff"
        assert by_port["2"]["actions"] == ["mod_vlan_vid:2", "resubmit(,58)"]
    # br-vlan: set_field:4278->vlan_vid is mod_vlan_vid:182.
    (flow,) = [
        f for f in load("node-12.example.local", "flows-br-vlan.of13.txt") if f["priority"] == 4
    ]
    assert flow["actions"] == ["mod_vlan_vid:182", "NORMAL"]


def test_default_priority_and_cookie_when_absent():
    flow = parse_flow(" table=3, dl_src=fa:16:3f:e5:9e:4b actions=output:2")
    assert flow["priority"] == DEFAULT_PRIORITY == 32768
    assert flow["cookie"] == "0x0"
    assert flow["table"] == 3
    assert flow["match"] == {"dl_src": "fa:16:3f:e5:9e:4b"}


def test_flow_with_empty_match_and_default_priority():
    # Default-format line with no match fields at all (priority=32768 is not printed).
    flow = parse_flow(
        " cookie=0x0, duration=5.1s, table=0, n_packets=0, n_bytes=0, idle_age=5, actions=NORMAL"
    )
    assert (flow["table"], flow["priority"], flow["match"], flow["actions"]) == (
        0,
        32768,
        {},
        ["NORMAL"],
    )
    assert flow["raw"] == "cookie=0x0, table=0, actions=NORMAL"


def test_idle_timeout_stays_in_raw_and_hard_age_goes():
    flow = parse_flow(
        " cookie=0xa149dd3112e9b27f, duration=102.695s, table=0, n_packets=66, n_bytes=4652, "
        "idle_timeout=300, idle_age=12, hard_age=40, priority=2,in_port=2 actions=resubmit(,1)"
    )
    assert flow["raw"] == (
        "cookie=0xa149dd3112e9b27f, table=0, idle_timeout=300, priority=2,in_port=2 "
        "actions=resubmit(,1)"
    )
    assert flow["match"] == {"in_port": "2"}


def test_of13_match_names_and_upper_case_macs():
    # node-12 br-int table 2 line with OF1.3 field names and an upper-case MAC.
    flow = parse_flow(
        " cookie=0x510e5047081aea74, table=2, priority=20,vlan_vid=4278,"
        "eth_dst=FA:16:3E:A1:D9:DA actions=set_field:FA:16:3E:7A:F3:81->eth_src,goto_table:58"
    )
    assert flow["match"] == {"dl_vlan": "182", "dl_dst": "fa:16:3e:a1:d9:da"}
    assert flow["actions"] == ["mod_dl_src:fa:16:3e:7a:f3:81", "resubmit(,58)"]


def test_top_level_comma_split():
    # node-12 br-int table 0 line with learn()/load/bracket actions added.
    flow = parse_flow(
        " cookie=0x510e5047081aea74, duration=74.697s, table=0, n_packets=0, n_bytes=0, "
        "idle_age=90, priority=99,arp,dl_dst=fa:16:3f:9e:52:68,arp_op=2 "
        "actions=load:0x1->NXM_NX_REG0[0..15],learn(table=20,priority=1,"
        "NXM_OF_VLAN_TCI[0..11],output:NXM_OF_IN_PORT[]),mod_dl_dst:fa:16:3e:7a:f3:81,"
        "resubmit(,58)"
    )
    assert flow["actions"] == [
        "load:0x1->NXM_NX_REG0[0..15]",
        "learn(table=20,priority=1,NXM_OF_VLAN_TCI[0..11],output:NXM_OF_IN_PORT[])",
        "mod_dl_dst:fa:16:3e:7a:f3:81",
        "resubmit(,58)",
    ]
    assert split_actions("ct(commit,zone=NXM_NX_REG6[0..15]),resubmit(,58)") == [
        "ct(commit,zone=NXM_NX_REG6[0..15])",
        "resubmit(,58)",
    ]


def test_canonical_actions_edge_cases():
    # push_vlan not followed by a vlan set_field stays; a set_field without the present bit stays.
    assert canonical_actions(["push_vlan:0x8100", "NORMAL"]) == ["push_vlan:0x8100", "NORMAL"]
    assert canonical_actions(["set_field:0x1001->vlan_vid"]) == ["mod_vlan_vid:1"]
    assert canonical_actions(["set_field:5->vlan_vid"]) == ["set_field:5->vlan_vid"]
    assert canonical_actions(["set_field:0x1->reg0"]) == ["set_field:0x1->reg0"]


def test_flows_by_table_groups_in_order():
    flows = load("node-12.example.local", "flows-br-vlan.txt")
    grouped = flows_by_table(flows)
    assert list(grouped) == [0, 1, 2, 3, 22]
    assert [f["priority"] for f in grouped[0]] == [2, 0, 1]
    assert sum(len(v) for v in grouped.values()) == len(flows)
    assert flows_by_table([]) == {}


def test_headers_and_empty_input():
    assert parse_dump_flows("") == []
    assert parse_dump_flows("OFPST_FLOW reply (OF1.3) (xid=0x2):\n") == []
    flows = parse_dump_flows(
        "OFPST_FLOW reply (OF1.3) (xid=0x2):\n"
        " cookie=0xa149dd3112e9b27f, table=2, priority=4,in_port=2,dl_vlan=2 "
        "actions=pop_vlan,NORMAL\n"
    )
    assert flows[0]["actions"] == ["strip_vlan", "NORMAL"]


GARBAGE = [
    (" cookie=0x0, table=0, priority=1 output:2", "no actions="),
    (" cookie=0x0, table=x, priority=1 actions=drop", "bad table"),
    (" cookie=0x0, priority=high actions=drop", "bad priority"),
    (" cookie=0x0, priority=1 actions=resubmit(,58", "unbalanced brackets"),
    (" cookie=0x0, priority=1 actions=drop,,NORMAL", "empty action"),
    (" cookie=0x0, priority=1,in_port= actions=drop", "bad match item"),
    ("ovs-ofctl: br-int is not a bridge or a socket", "no actions="),
]


test_garbage_raises_value_error = raises_value_error(
    lambda line: parse_dump_flows("NXST_FLOW reply (xid=0x4):\n" + line + "\n"), GARBAGE
)


def test_garbage_recorded_in_errors_list_and_skipped():
    errors: list = []
    flows = parse_dump_flows(
        "NXST_FLOW reply (xid=0x4):\n"
        " cookie=0x2677269df36994b0, table=3, priority=1 actions=NORMAL\n"
        "garbage\n",
        errors=errors,
    )
    assert len(flows) == 1
    assert errors == [{"line": 3, "text": "garbage", "error": "no actions="}]
