"""verify_dvr.yml end to end on the lab, then faults: each turns the run red with the right finding,
and green again once repaired. Faults re-run collect, probe and check (playbooks/recheck.yml) on
the resources the first run kept; nothing is provisioned twice. Every playbook runs in strict
mode (dvr_verify_strict), as the CI jobs do: a "not verified" of the run's own is red too.

Needs the lab (`make lab-up`); skipped with the reason otherwise. DVR_E2E_EXTRA_VARS (a JSON
object) adds variables to the first run, e.g. `{"dvr_verify_vm_access": "ssh"}` to probe from
inside the VMs over SSH, as on a cloud with Nova (`make e2e-aio`).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openstack
import pytest
import testinfra
import yaml
from lab_nodes import LAB_STATE, in_node, lab_pid, recorded

from dvr_verify.checks import DATAPLANE_CHECKS

REPO = Path(__file__).resolve().parents[2]
INVENTORY = REPO / "inventory" / "lab" / "hosts.yml"
BIN = Path(sys.executable).parent
# testinfra runs ansible-inventory and ansible: those of this venv.
os.environ["PATH"] = f"{BIN}:{os.environ.get('PATH', '')}"
pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(not INVENTORY.exists(), reason="the lab is not up: run `make lab-up`"),
]


def playbook(*args: str) -> subprocess.CompletedProcess[str]:
    """ansible-playbook on the lab in strict mode, as the CI jobs run (a later -e can undo it)."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    strict = ["-e", "dvr_verify_strict=true"]
    return subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(INVENTORY), *strict, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def report(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "report.json").read_text())


def failed_checks(run_dir: Path) -> set[tuple[str, str]]:
    return {
        (f["check"], f["subject"]) for f in report(run_dir)["findings"] if f["status"] == "fail"
    }


@dataclass
class Run:
    dir: Path
    resources: dict[str, Any]

    @property
    def vm(self) -> dict[str, Any]:
        return next(vm for vm in self.resources["vms"] if vm.get("fip"))

    def node(self, host: str) -> dict[str, Any]:
        return json.loads((self.dir / "nodes" / f"{host}.json").read_text())

    def namespace(self, prefix: str) -> dict[str, Any]:
        return next(
            n for n in self.node(self.vm["host"])["namespaces"] if n["name"].startswith(prefix)
        )


@pytest.fixture(scope="module")
def kept_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """One green verify_dvr.yml run whose resources are kept for the fault tests; cleaned after."""
    run_dir = tmp_path_factory.mktemp("run")
    extra = json.loads(os.environ.get("DVR_E2E_EXTRA_VARS") or "{}")
    result = playbook(
        "verify_dvr.yml",
        "-e",
        json.dumps({**extra, "dvr_verify_keep": True, "dvr_verify_run_dir": str(run_dir)}),
    )
    try:
        print((run_dir / "summary.txt").read_text() if (run_dir / "summary.txt").exists() else "")
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
        yield Run(run_dir, json.loads((run_dir / "resources.json").read_text()))
    finally:
        done = playbook(
            "playbooks/cleanup.yml", "-e", json.dumps({"dvr_verify_run_dir": str(run_dir)})
        )
        assert done.returncode == 0, done.stdout[-3000:]
        assert nothing_of_nova_left() == [], "the kept run's cleanup left Nova resources"


def nothing_of_nova_left() -> list[str]:
    """What of the runs' Nova VMs is left: servers or key pairs named dvrv-*, libvirt domains
    or qemu processes on the lab's computes (nothing on a lab without Nova)."""
    computes = sorted(recorded("libvirtd"))
    if not computes:
        return []
    conn = openstack.connect(cloud="dvr-lab")
    left = [f"server {s.name}" for s in conn.compute.servers(all_projects=True)]
    left += [f"key pair {k.name}" for k in conn.compute.keypairs()]
    left = [what for what in left if what.split()[-1].startswith("dvrv-")]
    left += [
        f"{n}: domain {d}"
        for n in computes
        for d in in_node(n, "virsh", "list", "--all", "--name").split()
    ]
    return left + [f"{n}: qemu {g}" for n in computes for g in qemu_taps(n)]


def node_host(run: Run) -> testinfra.host.Host:
    """The compute of the FIP VM, over SSH as the inventory describes it."""
    return testinfra.get_host(f"ansible://{run.vm['host']}", ansible_inventory=str(INVENTORY))


def sh(host: testinfra.host.Host, command: str) -> None:
    result = host.run(command)
    assert result.rc == 0, f"{command}: {result.stderr}"


def recheck(run: Run, *, red: bool) -> set[tuple[str, str]]:
    """playbooks/recheck.yml on the kept run: it fails (rc != 0) when red, as verify_dvr.yml
    does, and passes (rc 0) when green; the report's failed (check, subject) pairs."""
    result = playbook(
        "playbooks/recheck.yml", "-e", json.dumps({"dvr_verify_run_dir": str(run.dir)})
    )
    assert (result.returncode != 0) == red, (
        f"recheck rc {result.returncode}, expected {'red' if red else 'green'}: "
        + result.stdout[-6000:]
    )
    assert report(run.dir)["exit_code"] == int(red), result.stdout[-6000:]
    return failed_checks(run.dir)


def test_first_run_is_green(kept_run: Run) -> None:
    data = report(kept_run.dir)
    assert data["counts"]["fail"] == 0
    assert data["meta"]["strict"] is True and data["exit_code"] == 0
    checks = {f["check"] for f in data["findings"] if f["status"] == "pass"}
    assert {"fg.proxy_arp", "rfp.address", "fip.dnat", "fip.rule", *DATAPLANE_CHECKS} <= checks
    # every VM traced the path to each destination the lab's inventory names (gateway, internet)
    wanted = yaml.safe_load(INVENTORY.read_text())["all"]["vars"]["dvr_verify_trace_destinations"]
    traced = [f for f in data["findings"] if f["check"] == "trace.path" and f["status"] == "pass"]
    for dest in wanted:
        ends = {f["subject"] for f in traced if f["observed"].split(" -> ")[-1] == dest}
        assert len(ends) == len(kept_run.resources["vms"]), (dest, traced)


def _fault_cases(run: Run) -> dict[str, tuple[str, str, str, str]]:
    """name -> (break command, repair command, check id expected to fail, its subject)."""
    fip, fixed, router = run.vm["fip"], run.vm["ip"], run.resources["router_id"]
    qr = f"qrouter-{router}"
    fipns = run.namespace("fip-")["name"]
    fg = next(
        lk["ifname"] for lk in run.namespace("fip-")["links"] if lk["ifname"].startswith("fg-")
    )
    rfp = ("rfp-" + router)[:14]
    rfp_ip = next(
        a["local"]
        for lk in run.namespace("qrouter-")["addresses"]
        if lk["ifname"] == rfp
        for a in lk["addr_info"]
        if a["family"] == "inet"
    )
    fpr_ip = str(int(rfp_ip.split(".")[-1]) + 1)
    fpr_ip = ".".join([*rfp_ip.split(".")[:3], fpr_ip])
    fpr = ("fpr-" + router)[:14]
    fpr_mac = next(lk["address"] for lk in run.namespace("fip-")["links"] if lk["ifname"] == fpr)
    prio = next(
        r["priority"]
        for r in run.namespace("qrouter-")["rules"]["4"]
        if r.get("src") == fixed and r.get("table") == "16"
    )
    dnat = f"neutron-l3-agent-PREROUTING -d {fip}/32 -i {rfp} -j DNAT --to-destination {fixed}"
    return {
        "proxy_arp off on fg": (
            f"ip netns exec {fipns} sysctl -w net.ipv4.conf.{fg}.proxy_arp=0",
            f"ip netns exec {fipns} sysctl -w net.ipv4.conf.{fg}.proxy_arp=1",
            "fg.proxy_arp",
            f"{run.vm['host']} {fipns}",
        ),
        "rfp address removed": (
            f"ip -n {qr} addr del {rfp_ip}/31 dev {rfp}",
            f"ip -n {qr} addr add {rfp_ip}/31 dev {rfp} && "
            f"ip -n {qr} route replace default via {fpr_ip} dev {rfp} table 16 proto static && "
            f"ip -n {qr} neigh replace {fpr_ip} lladdr {fpr_mac} dev {rfp} nud permanent",
            "rfp.address",
            f"router {router}",
        ),
        "DNAT rule deleted": (
            f"ip netns exec {qr} iptables -t nat -D {dnat}",
            f"ip netns exec {qr} iptables -t nat -A {dnat}",
            "fip.dnat",
            fip,
        ),
        "ip rule deleted": (
            f"ip -n {qr} rule del priority {prio}",
            f"ip -n {qr} rule add from {fixed} lookup 16 priority {prio}",
            "fip.rule",
            fip,
        ),
    }


@pytest.mark.parametrize(
    "fault", ["proxy_arp off on fg", "rfp address removed", "DNAT rule deleted", "ip rule deleted"]
)
def test_fault_turns_red_then_green(kept_run: Run, fault: str) -> None:
    broken, repair, check, subject = _fault_cases(kept_run)[fault]
    host = node_host(kept_run)
    sh(host, broken)
    try:
        failed = recheck(kept_run, red=True)
        assert (check, subject) in failed, (
            f"{fault}: expected {check} to fail, got {sorted(failed)}"
        )
    finally:
        sh(host, repair)
    assert recheck(kept_run, red=False) == set(), f"{fault}: still red after repair"


def test_infra_suite_on_the_kept_run(kept_run: Run) -> None:
    """The pytest-testinfra suite (tests/infra) on the same run: one test per (FIP, family)."""
    result = subprocess.run(
        [
            str(BIN / "pytest"),
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/infra",
            "--hosts=ansible://all",
            f"--ansible-inventory={INVENTORY}",
            f"--dvr-run={kept_run.dir}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg")),
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    fips = [vm for vm in kept_run.resources["vms"] if vm.get("fip")]
    passed = re.search(r"(\d+) passed", result.stdout)
    # every node family and the four data-plane families answer for every FIP of the run
    assert passed and int(passed.group(1)) >= len(fips) * 12, result.stdout[-2000:]


# ---- the nova backend on the lab (issue 9): the VMs are real guests that Nova booted ----------


def nova_vms(run: Run) -> list[dict[str, Any]]:
    """The run's VMs that are Nova servers; skips on the lab backend."""
    vms = [vm for vm in run.resources["vms"] if vm.get("server_id")]
    if run.resources.get("backend") != "nova" or not vms:
        pytest.skip("the run's VMs are not Nova servers (backend lab)")
    return vms


def qemu_taps(node: str) -> dict[str, set[str]]:
    """{qemu guest name: the tap devices it holds} for the qemu processes in node's network
    namespace (a tun file descriptor's fdinfo names its device)."""
    node_net = os.readlink(f"/proc/{lab_pid(node + '-anchor')}/ns/net")
    found: dict[str, set[str]] = {}
    for proc in Path("/proc").iterdir():
        try:
            if not proc.name.isdigit() or not (proc / "comm").read_text().startswith("qemu"):
                continue
            if os.readlink(proc / "ns" / "net") != node_net:
                continue
            guest = re.search(r"guest=([^,\x00]+)", (proc / "cmdline").read_text()).group(1)
            infos = [f.read_text() for f in (proc / "fdinfo").iterdir()]
        except (FileNotFoundError, ProcessLookupError, AttributeError):
            continue
        found[guest] = {m for i in infos for m in re.findall(r"^iff:\s+(\S+)", i, re.M)}
    return found


def test_each_vm_is_a_qemu_guest_of_its_own_compute_plugged_by_os_vif(kept_run: Run) -> None:
    """The port's tap is held by a qemu process in that compute's namespaces, the domain is
    listed by that compute's libvirt and no other's, and nova-compute's log has os-vif's plug."""
    vms = nova_vms(kept_run)
    conn = openstack.connect(cloud="dvr-lab")
    nodes = sorted(recorded("libvirtd"))
    domains = {n: set(in_node(n, "virsh", "list", "--name").split()) for n in nodes}
    for vm in vms:
        node = vm["host"].split(".")[0]
        domain = conn.compute.get_server(vm["server_id"]).instance_name
        tap = f"tap{vm['port_id']}"[:14]
        assert tap in qemu_taps(node).get(domain, set()), (
            f"{vm['name']}: no qemu on {node} holds {tap}"
        )
        assert [n for n, listed in domains.items() if domain in listed] == [node], domains
        log = (LAB_STATE / "logs" / f"{node}-nova-compute.log").read_text()
        plugged = [line for line in log.splitlines() if "Successfully plugged vif" in line]
        assert any(vm["port_id"] in line for line in plugged), f"{vm['name']}: no os-vif plug"


def test_each_guest_answers_with_the_host_key_it_printed_on_its_console(
    kept_run: Run, tmp_path: Path
) -> None:
    """The host key SSH sees on the run's path to each VM is the one that guest generated at
    boot and printed to its Nova console log: the guest itself answers, not some other host."""
    vms = nova_vms(kept_run)
    conn = openstack.connect(cloud="dvr-lab")
    for vm in vms:
        known = tmp_path / f"{vm['name']}.known_hosts"
        subprocess.run(
            ["ssh", "-F", str(kept_run.dir / "ssh_config"), "-o", f"UserKnownHostsFile={known}",
             "-o", "StrictHostKeyChecking=accept-new", vm["name"], "true"],
            check=True, timeout=60, capture_output=True,
        )  # fmt: skip
        seen = {tuple(line.split()[1:3]) for line in known.read_text().splitlines()}
        console = conn.compute.get_server_console_output(vm["server_id"])["output"]
        block = re.search(r"BEGIN SSH HOST KEY KEYS-----\n(.*?)-----END", console, re.S)
        assert block, f"{vm['name']}: no host key block on the console"
        printed = {tuple(line.split()[:2]) for line in block.group(1).splitlines() if line}
        assert seen and seen <= printed, f"{vm['name']}: SSH saw {seen}, console has {printed}"
