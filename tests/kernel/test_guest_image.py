"""lab/guest-image.sh: the cirros-like guest disk, built, cached, and booted under qemu (TCG).

Runs as root, no lab. The image is built into a throwaway cache; the guest boots with a config
drive (genisoimage, label config-2, IDE cdrom) carrying a throwaway SSH key and a host name. Its
only network is a tap inside a throwaway namespace ``dvrguest-<random>``: 192.0.2.1/24 and a
dnsmasq handing out 192.0.2.10 with MTU 1450 there. Two more guests, each booted for one test:
one without config drive (a metadata service on 169.254.169.254 in its namespace), one without
DHCP (network_data.json), which is then powered off by the ACPI button. No user-mode networking:
nothing reaches outside the machine. Every process started here (qemu, dnsmasq, the HTTP server)
is killed by its PID, the namespace deleted (with its tap) and the temp dirs removed, whatever
the outcome.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "lab" / "guest-image.sh"
VIRT_TYPE = REPO / "lab" / "virt-type.sh"
NS_IP, PREFIX = "192.0.2.1", 24
GUEST_IP = "192.0.2.10"
METADATA_IP = "169.254.169.254"
QUIET = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
DHCP_RANGE = "192.0.2.0,static,255.255.255.0,1h"
MTU = 1450
TAP = "tapguest0"
UP = re.compile(r"^dvr-guest \S+ up", re.M)  # /init's line after starting dropbear
HOSTNAME = "dvr-guest-test"
BUILD_TIMEOUT = 120  # seconds; a cold build takes ~10
BOOT_TIMEOUT = 60  # seconds to the first SSH login (~8 under TCG)
POWEROFF_TIMEOUT = 30  # seconds from the ACPI power button to qemu exiting (~3)
TOOLS = ("ip", "qemu-system-x86_64", "qemu-img", "dnsmasq", "genisoimage", "ssh", "ssh-keygen")
TOOLS += ("ssh-keyscan", "apt-get", "dpkg-deb", "syslinux", "mcopy", "mkfs.fat", "sfdisk", "cpio")


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespace, tap device)"
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        return f"not installed: {', '.join(missing)} (make system-deps)"
    if not os.path.exists("/dev/net/tun"):
        return "no /dev/net/tun (tap devices)"
    return None


_REASON = _skip_reason()
pytestmark = [pytest.mark.kernel]
if _REASON:
    pytestmark.append(pytest.mark.skip(reason=_REASON))


def sh(*argv: str, timeout: float = 30) -> str:
    """Run a setup command; fail loudly."""
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: rc={proc.returncode} {proc.stderr.strip()}")
    return proc.stdout


def build(cache: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """guest-image.sh CACHE: the finished process and its wall time in seconds."""
    start = time.monotonic()
    proc = subprocess.run(
        [str(SCRIPT), str(cache)],
        capture_output=True,
        text=True,
        check=False,
        timeout=BUILD_TIMEOUT,
        env={**os.environ, **env},
    )
    return proc, time.monotonic() - start


@dataclass(frozen=True)
class Image:
    path: Path
    cold_s: float
    cached_s: float
    cached_stdout: str
    cached_stderr: str


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    """A temp dir for the module (cache, config drive, keys, logs); removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="dvrguest-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def image(workdir: Path) -> Image:
    """The image built cold into workdir/cache, then asked for again (the cache)."""
    cache = workdir / "cache"
    proc, cold = build(cache)
    assert proc.returncode == 0, f"guest-image.sh failed (rc {proc.returncode}): {proc.stderr}"
    path = Path(proc.stdout.splitlines()[-1])
    again, cached = build(cache)
    assert again.returncode == 0, f"guest-image.sh (cached) failed: {again.stderr}"
    size = path.stat().st_size
    print(f"\nguest image: cold build {cold:.1f}s, cached {cached:.2f}s, {size} bytes")
    return Image(path, cold, cached, again.stdout, again.stderr)


@dataclass(frozen=True)
class Guest:
    ns: str
    ip: str
    key: Path
    known_hosts: Path
    console: Path
    monitor: Path
    qemu: subprocess.Popen[bytes]
    boot_to_ssh_s: float


def ssh(guest: Guest, command: str, user: str = "cirros", timeout: float = 30) -> str:
    """`command` in the guest over SSH (from inside the test namespace); its stdout."""
    __tracebackhide__ = True
    login = f"{user}@{guest.ip}"
    proc = subprocess.run(
        ["ip", "netns", "exec", guest.ns, "ssh", *ssh_options(guest), login, command],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    if proc.returncode != 0:
        pytest.fail(f"ssh {login} {command!r}: rc={proc.returncode} {proc.stderr.strip()}")
    return proc.stdout


def ssh_options(guest: Guest) -> list[str]:
    return [
        "-i",
        str(guest.key),
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        f"UserKnownHostsFile={guest.known_hosts}",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=5",
        "-o",
        "LogLevel=ERROR",
    ]


def metadata(workdir: Path, public_key: str, hostname: str) -> Path:
    """workdir/metadata/openstack/latest/ as Nova writes it: meta_data.json (the key, the name)
    and network_data.json (GUEST_IP static on one link with MTU, default route, DNS)."""
    root = workdir / "metadata"
    latest = root / "openstack" / "latest"
    latest.mkdir(parents=True)
    meta = {"uuid": secrets.token_hex(16), "hostname": hostname, "name": hostname}
    meta["public_keys"] = {"dvr-test": public_key + "\n"}  # (Nova keeps the key's newline)
    (latest / "meta_data.json").write_text(json.dumps(meta))
    link = {"id": "tap0", "type": "ovs", "mtu": MTU, "ethernet_mac_address": "", "vif_id": ""}
    network = {"id": "network0", "type": "ipv4", "link": "tap0", "ip_address": GUEST_IP}
    network["netmask"] = "255.255.255.0"
    network["routes"] = [{"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": NS_IP}]
    services = [{"type": "dns", "address": NS_IP}]
    net = {"links": [link], "networks": [network], "services": services}
    (latest / "network_data.json").write_text(json.dumps(net))
    return root


def config_drive(workdir: Path, root: Path) -> Path:
    """An ISO 9660 config drive (label config-2) of the metadata tree `root`."""
    iso = workdir / "config-drive.iso"
    sh("genisoimage", "-quiet", "-o", str(iso), "-V", "config-2", "-r", "-J", str(root))
    return iso


def lease_of(leases: Path, mac: str) -> str | None:
    """The address dnsmasq leased to `mac` (its lease file: expiry mac ip name client-id)."""
    if not leases.exists():
        return None
    for line in leases.read_text().splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[1] == mac:
            return fields[2]
    return None


def wait_for(what: str, ready: Callable[[], bool], g: Guest, deadline: float) -> None:
    """Until ready() (polled every 0.2 s); fails naming `what`, with the console's tail, at the
    deadline (time.monotonic()) or as soon as qemu exits."""
    __tracebackhide__ = True
    while not ready():
        if g.qemu.poll() is not None:
            pytest.fail(f"qemu exited with {g.qemu.returncode} before {what}:\n{tail(g.console)}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {BOOT_TIMEOUT}s of the boot:\n{tail(g.console)}")
        time.sleep(0.2)


def ssh_works(g: Guest) -> bool:
    proc = subprocess.run(
        ["ip", "netns", "exec", g.ns, "ssh", *ssh_options(g), f"cirros@{g.ip}", "true"],
        capture_output=True,
        check=False,
        timeout=15,
    )
    return proc.returncode == 0


@contextmanager
def booted(
    image: Image,
    workdir: Path,
    tag: str,
    drive: bool = True,
    dhcp: bool = True,
    hostname: str = HOSTNAME,
) -> Iterator[Guest]:
    """The image booted (TCG, 128 MB, pc machine) on a tap in a throwaway namespace with dnsmasq,
    up to its first SSH login; files under workdir/tag. The key and `hostname` on a config drive,
    or (drive=False) from a metadata service: an HTTP server on 169.254.169.254:80 in the
    namespace. dhcp=False: no dnsmasq (the guest falls back to network_data.json). qemu,
    dnsmasq and the server are killed by PID and the namespace deleted
    afterwards, whatever happened."""
    ns = f"dvrguest-{secrets.token_hex(4)}"
    mac = "52:54:00:" + ":".join(secrets.token_hex(1) for _ in range(3))
    files = workdir / tag
    files.mkdir()
    key = files / "id_ed25519"
    sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "dvr-test", "-f", str(key))
    tree = metadata(files, (files / "id_ed25519.pub").read_text().strip(), hostname)
    iso = config_drive(files, tree) if drive else None
    console, leases, monitor = files / "console.log", files / "leases", files / "monitor.sock"
    procs: list[subprocess.Popen[bytes]] = []
    created = False
    try:
        sh("ip", "netns", "add", ns)
        created = True
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", ns, "tuntap", "add", "dev", TAP, "mode", "tap")
        sh("ip", "-n", ns, "addr", "add", f"{NS_IP}/{PREFIX}", "dev", TAP)
        sh("ip", "-n", ns, "link", "set", TAP, "up")
        # As Neutron runs it: a static range and the port's address by MAC (no ping before an
        # offer, which costs 3 s on a dynamic range).
        dnsmasq = [
            "dnsmasq",
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--port=0",
            f"--interface={TAP}",
            "--bind-interfaces",
            f"--dhcp-range={DHCP_RANGE}",
            f"--dhcp-host={mac},{GUEST_IP}",
            f"--dhcp-option=option:mtu,{MTU}",
            f"--dhcp-leasefile={leases}",
            f"--pid-file={files / 'dnsmasq.pid'}",
            "--user=root",
            f"--log-facility={files / 'dnsmasq.log'}",
        ]
        # (ip netns exec execs the command: each Popen's PID is dnsmasq's, the server's, qemu's)
        if dhcp:
            procs.append(subprocess.Popen(["ip", "netns", "exec", ns, *dnsmasq]))
        if not drive:
            sh("ip", "-n", ns, "addr", "add", f"{METADATA_IP}/32", "dev", "lo")
            server = ["python3", "-m", "http.server", "-b", METADATA_IP, "-d", str(tree), "80"]
            procs.append(subprocess.Popen(["ip", "netns", "exec", ns, *server], **QUIET))
        qemu = [
            "qemu-system-x86_64",
            "-accel",
            "tcg",
            "-m",
            "128",
            "-machine",
            "pc",
            "-nodefaults",
            "-display",
            "none",
            "-serial",
            f"file:{console}",
            "-monitor",
            f"unix:{monitor},server=on,wait=off",
            "-drive",
            f"file={image.path},if=virtio,format=qcow2,snapshot=on",
            *(["-drive", f"file={iso},if=ide,media=cdrom,format=raw,readonly=on"] if iso else []),
            "-netdev",
            f"tap,id=n0,ifname={TAP},script=no,downscript=no",
            "-device",
            f"virtio-net-pci,netdev=n0,mac={mac}",
        ]
        start = time.monotonic()
        qemu_proc = subprocess.Popen(["ip", "netns", "exec", ns, *qemu])
        procs.append(qemu_proc)
        deadline = start + BOOT_TIMEOUT
        g = Guest(ns, GUEST_IP, key, files / "known_hosts", console, monitor, qemu_proc, 0.0)
        if dhcp:
            lease = f"DHCP lease of {GUEST_IP} to {mac}"
            wait_for(lease, lambda: lease_of(leases, mac) == GUEST_IP, g, deadline)
        # (the console line /init prints after starting dropbear: no SSH attempt before it, whose
        # lost SYN would cost a retransmission timeout)
        wait_for(
            "'dvr-guest ... up' on the console", lambda: bool(UP.search(tail(console))), g, deadline
        )
        wait_for(f"SSH login as cirros@{GUEST_IP}", lambda: ssh_works(g), g, deadline)
        g = dataclasses.replace(g, boot_to_ssh_s=time.monotonic() - start)
        print(f"\nguest {tag}: boot to SSH {g.boot_to_ssh_s:.1f}s")
        yield g
    finally:
        for proc in reversed(procs):
            proc.kill()
            proc.wait(timeout=10)
        if created:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)


@pytest.fixture(scope="module")
def guest(image: Image, workdir: Path) -> Iterator[Guest]:
    """One booted guest for the module's read-only checks (booted())."""
    with booted(image, workdir, "shared") as g:
        yield g


def tail(path: Path, lines: int = 30) -> str:
    if not path.exists():
        return "(no console log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


# --- the build -----------------------------------------------------------------------------


def test_second_build_hits_the_cache(image: Image) -> None:
    assert image.path.name == "dvr-guest.qcow2"
    assert image.cached_stdout.splitlines()[-1] == str(image.path)
    assert "building" not in image.cached_stdout, image.cached_stdout
    assert image.cached_stderr == "", image.cached_stderr
    # (a hit only asks apt, one call of ~1 s, and dpkg for versions; relative: a loaded machine
    # slows both)
    assert image.cached_s < image.cold_s / 3, (
        f"cached {image.cached_s:.2f}s, cold {image.cold_s:.1f}s"
    )


def boots(accel: str, disk: Path, timeout: int) -> tuple[int, float]:
    """`virt-type.sh boots ACCEL DISK` (lab-up's KVM check) with its boot timeout: (rc, seconds)."""
    start = time.monotonic()
    proc = subprocess.run(
        [str(VIRT_TYPE), "boots", accel, str(disk)],
        env={**os.environ, "VIRT_TYPE_BOOT_TIMEOUT": str(timeout)},
        timeout=timeout + 30, check=False, **QUIET,
    )  # fmt: skip
    return proc.returncode, time.monotonic() - start


def test_the_hypervisor_check_passes_only_a_guest_that_boots(image: Image, workdir: Path) -> None:
    """lab-up chooses KVM only when the guest image reaches userspace under it (its host key on
    the console): the check passes the image under TCG and fails a disk that starts but halts
    (a boot sector with cli; hlt), as a software /dev/kvm on which no kernel runs does."""
    rc, took = boots("tcg", image.path, BOOT_TIMEOUT)
    assert rc == 0, f"the guest image did not boot under TCG within {BOOT_TIMEOUT} s"
    raw = workdir / "halt.raw"
    raw.write_bytes(b"\xfa\xf4\xeb\xfd".ljust(510, b"\0") + b"\x55\xaa")
    halt = workdir / "halt.qcow2"
    sh("qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(halt))
    rc_halt, took_halt = boots("tcg", halt, 8)
    assert rc_halt == 1 and took_halt >= 8, (rc_halt, took_halt)
    print(f"\nhypervisor check: the image booted under TCG in {took:.1f} s; a halting disk failed")


def test_image_is_one_qcow2_disk(image: Image) -> None:
    info = json.loads(sh("qemu-img", "info", "--output=json", str(image.path)))
    assert info["format"] == "qcow2"
    assert [p.name for p in image.path.parent.parent.iterdir()] == [image.path.parent.name]


@pytest.mark.parametrize(
    ("env", "fake_tool", "message"),
    [
        pytest.param(
            {"GUEST_KERNEL_PACKAGE": "linux-image-does-not-exist"},
            None,
            "kernel package linux-image-does-not-exist",
            id="bogus-kernel-package",
        ),
        pytest.param({}, "dpkg-deb", "extraction of linux-image-", id="failing-extraction"),
    ],
)
def test_failed_build_leaves_nothing(
    env: dict[str, str], fake_tool: str | None, message: str, workdir: Path
) -> None:
    tmp_path = Path(tempfile.mkdtemp(prefix="failed-", dir=workdir))
    cache, scratch = tmp_path / "cache", tmp_path / "scratch"
    scratch.mkdir()
    env = {**env, "TMPDIR": str(scratch)}
    if fake_tool:
        bindir = tmp_path / "bin"
        bindir.mkdir()
        (bindir / fake_tool).write_text("#!/bin/sh\necho 'broken on purpose' >&2\nexit 3\n")
        (bindir / fake_tool).chmod(0o755)
        env["PATH"] = f"{bindir}:{os.environ['PATH']}"
    proc, _ = build(cache, **env)
    assert proc.returncode != 0
    errors = proc.stderr.splitlines()
    assert len(errors) == 1 and message in errors[0], proc.stderr
    assert not cache.exists() or list(cache.iterdir()) == [], list(cache.iterdir())
    assert list(scratch.iterdir()) == []


# --- the booted guest ----------------------------------------------------------------------


def test_guest_logs_in_as_cirros(guest: Guest) -> None:
    assert ssh(guest, "id -u; id -un; echo $HOME").split() == ["1000", "cirros", "/home/cirros"]


def test_mtu_comes_from_dhcp(guest: Guest) -> None:
    assert ssh(guest, "cat /sys/class/net/eth0/mtu").strip() == str(MTU)


def test_hostname_comes_from_the_config_drive(guest: Guest) -> None:
    assert ssh(guest, "hostname").strip() == HOSTNAME


def test_guest_pings_the_namespace_as_cirros(guest: Guest) -> None:
    """As on cirros, the user pings without sudo (setuid busybox, which keeps root for ping
    only): verify_dvr.yml's egress probe pings as the image's user."""
    out = ssh(guest, f"ping -c1 -W5 {NS_IP}")
    assert "1 packets received" in out, out
    assert ssh(guest, "id -u").strip() == "1000"  # the shell itself is not root


def test_cirros_traceroutes_with_sudo_as_on_cirros(guest: Guest) -> None:
    """verify_dvr.yml's probes run `sudo -n traceroute` as the image's user, as on cirros."""
    assert ssh(guest, "sudo -n id -u").strip() == "0"
    out = ssh(guest, f"sudo -n traceroute -n -m 2 -w 2 {NS_IP}")
    assert re.search(rf"^\s*1\s+{re.escape(NS_IP)}\s", out, re.M), out
    assert "unknown option" in ssh(guest, "sudo -u nobody id -u 2>&1 || true")


def test_probe_tools_exist(guest: Guest) -> None:
    for tool in ("traceroute", "nc", "ping", "ip"):
        ssh(guest, f"command -v {tool}")


def test_root_logs_in_with_the_same_key_and_traceroutes(guest: Guest) -> None:
    assert ssh(guest, "id -u", user="root").strip() == "0"
    out = ssh(guest, f"traceroute -n -m 2 -w 2 {NS_IP}", user="root")
    assert re.search(rf"^\s*1\s+{re.escape(NS_IP)}\s", out, re.M), out


def test_console_host_key_matches_keyscan(guest: Guest) -> None:
    text = guest.console.read_text(errors="replace")
    block = re.search(
        r"-----BEGIN SSH HOST KEY KEYS-----\r?\n(.*?)-----END SSH HOST KEY KEYS-----", text, re.S
    )
    assert block, f"no host key block on the console:\n{tail(guest.console)}"
    printed = {tuple(line.split()[:2]) for line in block.group(1).splitlines() if line.strip()}
    scan = sh("ip", "netns", "exec", guest.ns, "ssh-keyscan", "-T", "10", guest.ip)
    scanned = {tuple(line.split()[1:3]) for line in scan.splitlines() if not line.startswith("#")}
    assert printed and printed == scanned, f"console {printed} != ssh-keyscan {scanned}"


def monitor(g: Guest, command: str) -> str:
    """`command` on qemu's human monitor: sent after its prompt, answered by the next one (a
    command written before the prompt, or a socket closed before the answer, can be lost)."""
    with socket.socket(socket.AF_UNIX) as mon:
        mon.settimeout(10)
        mon.connect(str(g.monitor))
        seen = b""
        for send in (b"", f"{command}\n".encode()):
            mon.sendall(send)
            while not seen.endswith(b"(qemu) "):
                chunk = mon.recv(4096)
                assert chunk, f"qemu monitor closed; so far: {seen!r}"
                seen += chunk
            answer, seen = seen, b""
    return answer.decode(errors="replace")


def test_key_and_hostname_from_the_metadata_service(image: Image, workdir: Path) -> None:
    # (its own guest, without a config drive)
    with booted(image, workdir, "metadata", drive=False, hostname="dvr-guest-md") as g:
        assert ssh(g, "hostname").strip() == "dvr-guest-md"


def test_static_network_without_dhcp_then_power_button(image: Image, workdir: Path) -> None:
    # (its own guest, on a network without a DHCP server; it ends powered off: one boot for both)
    with booted(image, workdir, "static", dhcp=False) as g:
        assert ssh(g, "cat /sys/class/net/eth0/mtu").strip() == str(MTU)
        assert ssh(g, "ip -4 route show default").split()[:3] == ["default", "via", NS_IP]
        assert "static: eth0" in g.console.read_text(errors="replace")
        monitor(g, "system_powerdown")
        try:
            g.qemu.wait(timeout=POWEROFF_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"still running {POWEROFF_TIMEOUT}s after the power button:\n{tail(g.console)}"
            )
        assert "power button" in g.console.read_text(errors="replace")
