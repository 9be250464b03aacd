# -*- coding: utf-8 -*-
# Apache-2.0
"""Shared code of the scapy probe modules (dvr_arp_probe, dvr_reach_probe, dvr_capture,
dvr_traceroute, dvr_edge_probe; their main() is dvr_probe_module.run_probe).

Runs on the probe host (Python 3.8+, root). scapy is imported lazily by `load_scapy()`, after
`enter_netns()` has moved the process into the requested network namespace (scapy reads the
interfaces and routes of the namespace it is imported in). Every probe is bounded: the callers
validate counts and times with `bounded()` against the maxima below.

The probes' results are plain dicts in exactly the shapes of `dvr_verify.probes` `as_dict()`:
ArpProbe, Reachability, CapturedFrame and Traceroute.
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import json
import os
import random
import select
import socket
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

CLONE_NEWNET = 0x40000000
NETNS_DIR = "/run/netns"

# Hard maxima of the module options (the modules' argument specs hold the defaults and bounds).
LIMITS = {
    "arp_targets": 1024,
    "arp_count": 10,
    "reach_targets": 256,
    "reach_count": 20,
    "tcp_count": 5,
    "capture_count": 10000,
    "capture_timeout": 600.0,
    "trace_destinations": 16,
    "trace_vms": 128,
    "trace_max_hops": 30,
    "timeout": 30.0,
    "df_size_min": 68,
    "df_size_max": 9216,
    "tcp_workers": 32,
}

ECHO_PAYLOAD = 56  # bytes after the ICMP header, as ping sends
RCVBUF = 4 * 1024 * 1024


class ProbeError(Exception):
    """A probe could not run (bad interface, address not configured, ...): fail_json."""


class ScapyMissing(ProbeError):
    """scapy cannot be imported by this interpreter."""


def scapy_missing_msg(detail=""):
    msg = (
        "scapy is not installed for %s: run the probe prepare step / pip install scapy"
        % sys.executable
    )
    return msg + (" (%s)" % detail if detail else "")


# --- options --------------------------------------------------------------------------------


def bounded(name, value, minimum, maximum):
    """`value` if minimum <= value <= maximum, else ProbeError naming the option and range."""
    if value is None:
        return value
    if value < minimum or value > maximum:
        raise ProbeError("%s=%s is out of range [%s, %s]" % (name, value, minimum, maximum))
    return value


def ipv4_list(name, values, maximum):
    """Validated, de-duplicated (order kept) IPv4 address strings; at least one."""
    if values and len(values) == 1 and values[0].strip().startswith("["):
        import json

        values = [str(item) for item in json.loads(values[0])]
    out = []
    for value in values or []:
        try:
            address = str(ipaddress.IPv4Address(str(value).strip()))
        except ValueError:
            raise ProbeError("%s: %r is not an IPv4 address" % (name, value)) from None
        if address not in out:
            out.append(address)
    if not out:
        raise ProbeError("%s: at least one IPv4 address is required" % name)
    if len(out) > maximum:
        raise ProbeError("%s: %d addresses, at most %d allowed" % (name, len(out), maximum))
    return out


def ethernet_interface(name: str) -> str:
    """`name`, unless it is "any" (Linux's cooked capture device has no Ethernet header)."""
    if name == "any":
        raise ProbeError("interface=any has no destination MAC: name the Ethernet device")
    return name


# --- namespace and scapy --------------------------------------------------------------------


def enter_netns(name):
    """Move this process (its main thread, before any other thread exists) into netns `name`.

    `name` is a namespace of `ip netns` (/run/netns/<name>) or an absolute path to a netns file
    (/proc/<pid>/ns/net). Uses setns(2) through ctypes, like `ip netns exec` but without
    re-executing the module; only the network namespace changes (scapy reads interfaces and
    routes over rtnetlink, so /sys need not be remounted). Must run before `load_scapy()`.
    """
    if not name:
        return
    path = name if name.startswith("/") else os.path.join(NETNS_DIR, name)
    if threading.active_count() != 1:
        raise ProbeError("cannot enter netns %s: other threads are running" % name)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise ProbeError("network namespace %s: %s" % (name, exc.strerror)) from None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise ProbeError("setns(%s): %s" % (path, os.strerror(err)))
        if os.fstat(fd).st_ino != os.stat("/proc/thread-self/ns/net").st_ino:
            raise ProbeError("setns(%s) did not change the network namespace" % path)
    finally:
        os.close(fd)


class Scapy(object):
    """The scapy names the probes use, imported once."""

    def __init__(self):
        import logging

        logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
        logging.getLogger("scapy.loading").setLevel(logging.ERROR)
        try:
            from scapy.config import conf
            from scapy.layers.inet import ICMP, IP, TCP, UDP, ICMPerror, IPerror, UDPerror
            from scapy.layers.l2 import ARP, Ether
            from scapy.packet import Raw
            from scapy.sendrecv import sniff
            from scapy.supersocket import L3RawSocket
        except ImportError as exc:
            raise ScapyMissing(scapy_missing_msg(str(exc))) from None
        import scapy

        self.version = getattr(scapy, "__version__", "unknown")
        conf.verb = 0
        self.conf = conf
        self.ARP, self.Ether = ARP, Ether
        self.IP, self.ICMP, self.TCP, self.UDP = IP, ICMP, TCP, UDP
        self.IPerror, self.ICMPerror, self.UDPerror = IPerror, ICMPerror, UDPerror
        self.Raw, self.sniff, self.L3RawSocket = Raw, sniff, L3RawSocket


_SCAPY = []


def load_scapy():
    """The imported scapy names (ScapyMissing when scapy is not importable)."""
    if not _SCAPY:
        _SCAPY.append(Scapy())
    return _SCAPY[0]


def interface(s, name):
    """(mac, [IPv4 addresses]) of interface `name` in the current namespace."""
    s.conf.ifaces.reload()
    try:
        dev = s.conf.ifaces.dev_from_name(name)
    except ValueError:
        raise ProbeError(
            "interface %s does not exist (have: %s)"
            % (name, ", ".join(sorted(i.name for i in s.conf.ifaces.values())))
        ) from None
    return (dev.mac or "").lower(), list(dev.ips.get(4, []))


def connected_source(s, iface, addresses, target):
    """The address of `iface` whose connected route holds `target`, else the first one
    (`s.conf.route` as last read: call `s.conf.route.resync()` once before)."""
    target_int = int(ipaddress.IPv4Address(target))
    best = None
    for route in s.conf.route.routes:
        net, mask, gw, dev, src = route[:5]
        if dev != iface or gw != "0.0.0.0" or src not in addresses:
            continue
        if target_int & mask == net & mask and (best is None or mask > best[0]):
            best = (mask, src)
    return best[1] if best else addresses[0]


def _open_filtered(s, factory, bpf, **kwargs):
    """A scapy socket with BPF `bpf` attached, or without a filter when it cannot be compiled
    (no libpcap): the callers filter in Python as well."""
    try:
        return factory(filter=bpf, **kwargs)
    except Exception:  # scapy raises Scapy_Exception / ImportError / OSError here
        return factory(**kwargs)


def _grow_rcvbuf(sock):
    for attr in ("ins",):
        raw = getattr(sock, attr, None)
        if raw is not None:
            with contextlib.suppress(OSError):
                raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)


def _receive(sock, deadline, handle, done=None):
    """Feed every packet read from `sock` until `deadline` (monotonic) to `handle`."""
    while True:
        if done is not None and done():
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        ready, _, _ = select.select([sock.ins], [], [], remaining)
        if not ready:
            return
        try:
            pkt = sock.recv()
        except OSError:
            continue
        if pkt is not None:
            handle(pkt)


def _exchange(
    s: Any,
    packets: Sequence[Any],
    timeout: float,
    handle: Callable[[Any], None],
    done: Callable[[], bool],
) -> List[Tuple[int, OSError]]:
    """Send `packets` on one raw IP socket (the kernel routes them and resolves the next hop),
    then feed every ICMP packet read to `handle` until `timeout` seconds later or `done()`.
    Returns [(index in packets, OSError)] of the packets the local kernel refused to send."""
    refused = []
    sock = _open_filtered(s, s.L3RawSocket, "icmp")
    try:
        _grow_rcvbuf(sock)
        for index, pkt in enumerate(packets):
            try:
                sock.send(pkt)
            except OSError as exc:
                refused.append((index, exc))
        _receive(sock, time.monotonic() + timeout, handle, done=done)
    finally:
        sock.close()
    return refused


# --- ARP ------------------------------------------------------------------------------------


def _arp_senders(
    s: Any, iface: str, addresses: List[str], targets: List[str], source_ip: Optional[str]
) -> Dict[str, str]:
    """{target: sender address}: `source_ip` (must be one of `addresses`, those of `iface`), else
    per target the address of `iface` whose connected subnet holds it."""
    if source_ip is not None:
        source_ip = str(ipaddress.IPv4Address(source_ip))
        if source_ip not in addresses:
            raise ProbeError(
                "source_ip %s is not configured on %s (it has %s): a spoofed sender would "
                "poison neighbour caches" % (source_ip, iface, ", ".join(addresses))
            )
    s.conf.route.resync()
    return dict((t, source_ip or connected_source(s, iface, addresses, t)) for t in targets)


def arp_probe(iface, targets, source_ip=None, count=2, timeout=2.0, interval=0.2):
    """Who-has every target from `iface`, all in one window; returns ArpProbe dicts.

    The sender address is `source_ip` (must be configured on `iface`) or, per target, the
    interface address whose connected subnet holds the target (else its first address). All
    requests (`count` rounds of every target, `interval` seconds between rounds) go out on one
    packet socket opened before the first request; every ARP reply addressed to a sender address
    that arrives until `timeout` seconds after the last request is kept (several MACs answering
    for one target are all reported, duplicates included, in arrival order).
    """
    s = load_scapy()
    mac, addresses = interface(s, iface)
    if not addresses:
        raise ProbeError("interface %s has no IPv4 address to send ARP requests from" % iface)
    senders = _arp_senders(s, iface, addresses, targets, source_ip)
    requests = [
        bytes(
            s.Ether(src=mac, dst="ff:ff:ff:ff:ff:ff")
            / s.ARP(op=1, hwsrc=mac, psrc=senders[t], hwdst="00:00:00:00:00:00", pdst=t)
        )
        for t in targets
    ]
    replies = dict((t, []) for t in targets)

    def handle(pkt):
        if s.ARP not in pkt:
            return
        arp = pkt[s.ARP]
        if arp.op != 2 or arp.psrc not in replies or arp.pdst != senders[arp.psrc]:
            return
        replies[arp.psrc].append(
            {"target": arp.psrc, "mac": str(arp.hwsrc).lower(), "sender_ip": arp.psrc}
        )

    sock = _open_filtered(s, s.conf.L2socket, "arp", iface=iface, promisc=False)
    try:
        _grow_rcvbuf(sock)
        for rnd in range(count):
            if rnd and interval:
                _receive(sock, time.monotonic() + interval, handle)
            for request in requests:
                sock.outs.send(request)
        _receive(sock, time.monotonic() + timeout, handle)
    finally:
        sock.close()
    return [
        {
            "target": t,
            "interface": iface,
            "sender_ip": senders[t],
            "replies": replies[t],
            "sent": count,
        }
        for t in targets
    ]


# --- reachability ---------------------------------------------------------------------------


def _tcp_connect(target, port, timeout):
    """True when a TCP connection to target:port is established within `timeout`."""
    try:
        conn = socket.create_connection((target, port), timeout=timeout)
    except (OSError, socket.timeout):
        return False
    conn.close()
    return True


def _echo_requests(
    s: Any, targets: List[str], count: int, df_size: Optional[int], ident: int
) -> List[Tuple[str, int, Any]]:
    """[(target, seq, packet)]: `count` echo requests per target, then with `df_size` as many
    don't-fragment ones of that IP total length (sequence numbers from 0x8000)."""
    probes = []
    for t in targets:
        for seq in range(count):
            pkt = s.IP(dst=t) / s.ICMP(type=8, id=ident, seq=seq) / s.Raw(b"\x00" * ECHO_PAYLOAD)
            probes.append((t, seq, pkt))
        if df_size:
            for seq in range(0x8000, 0x8000 + count):
                pkt = (
                    s.IP(dst=t, flags="DF")
                    / s.ICMP(type=8, id=ident, seq=seq)
                    / s.Raw(b"\x00" * (df_size - 28))
                )
                probes.append((t, seq, pkt))
    return probes


def _echo_answers(
    s: Any, probes: List[Tuple[str, int, Any]], ident: int, timeout: float
) -> Tuple[Dict[Tuple[str, int], Tuple[float, int]], Dict[str, List[str]]]:
    """Send the `_echo_requests`; returns ({(address, seq): (time, ttl)} of the first echo reply
    to each, {target: ["seq <n>: <error>"]} of the requests the local kernel refused)."""
    answers = {}
    send_errors = {}

    def handle(pkt):
        if s.ICMP not in pkt or s.IP not in pkt:
            return
        icmp = pkt[s.ICMP]
        if icmp.type != 0 or icmp.id != ident:
            return
        key = (pkt[s.IP].src, icmp.seq)
        if key not in answers:
            answers[key] = (time.monotonic(), pkt[s.IP].ttl)

    if probes:
        packets = [pkt for _t, _seq, pkt in probes]
        refused = _exchange(s, packets, timeout, handle, lambda: len(answers) >= len(probes))
        for index, exc in refused:
            target, seq, _pkt = probes[index]
            send_errors.setdefault(target, []).append("seq %d: %s" % (seq, exc.strerror))
    return answers, send_errors


def _tcp_connects(
    targets: List[str], port: int, count: int, timeout: float
) -> Tuple[ThreadPoolExecutor, Dict[str, List[Future]]]:
    """(pool, {target: [future of `_tcp_connect`]}): `count` connections per target, started."""
    pool = ThreadPoolExecutor(max_workers=min(LIMITS["tcp_workers"], len(targets)))
    futures = dict(
        (t, [pool.submit(_tcp_connect, t, port, timeout) for _ in range(count)]) for t in targets
    )
    return pool, futures


def _reachability(
    target: str,
    kind: str,
    sent: int,
    received: int,
    ttl: Optional[int] = None,
    port: Optional[int] = None,
) -> Dict[str, Any]:
    """A Reachability dict."""
    return {
        "target": target,
        "kind": kind,
        "port": port,
        "sent": sent,
        "received": received,
        "ttl": ttl,
    }


def _echo_result(target: str, kind: str, seqs: range, answers: dict) -> Dict[str, Any]:
    """The Reachability dict of the echo requests `seqs` to `target`."""
    got = sorted(answers[(target, seq)] for seq in seqs if (target, seq) in answers)
    return _reachability(target, kind, len(seqs), len(got), ttl=got[0][1] if got else None)


def reach_probe(
    targets, count=3, timeout=2.0, tcp_port=None, tcp_count=1, tcp_timeout=3.0, df_size=None
):
    """ICMP echo (`count` per target), optional TCP connect to `tcp_port` (`tcp_count` per
    target) and optional don't-fragment echo of `df_size` bytes (IP total length, `count` per
    target), for all targets at once. Returns a tuple: the Reachability dicts (per target icmp,
    then tcp, then icmp_df) and {target: ["seq <n>: <error>"]} of the echo requests the local
    kernel refused to send (they count as sent).

    ICMP goes out through a raw IP socket (the kernel routes and resolves the next hop, as for
    `ping`); replies are matched by (address, id, sequence) until `timeout` seconds after the
    last request; an error such as "fragmentation needed" is not an answer. `ttl` is that of the
    first echo reply. TCP uses the kernel's connect() (SYN, SYN-ACK, ACK, then close): a
    completed handshake is an answer; the TTL of a TCP answer is not observable (null).
    """
    s = load_scapy()
    ident = random.randint(0x1000, 0xEFFF)
    probes = _echo_requests(s, targets, count, df_size, ident)
    pool, connects = None, {}
    if tcp_port:
        pool, connects = _tcp_connects(targets, tcp_port, tcp_count, tcp_timeout)
    answers, send_errors = _echo_answers(s, probes, ident, timeout)
    results = []
    for t in targets:
        if count:
            results.append(_echo_result(t, "icmp", range(count), answers))
        if df_size:
            results.append(_echo_result(t, "icmp_df", range(0x8000, 0x8000 + count), answers))
        if tcp_port:
            ok = sum(1 for future in connects[t] if future.result())
            results.append(_reachability(t, "tcp", tcp_count, ok, port=tcp_port))
    if pool is not None:
        pool.shutdown(wait=True)
    order = {"icmp": 0, "tcp": 1, "icmp_df": 2}
    results.sort(key=lambda r: (targets.index(r["target"]), order[r["kind"]]))
    return results, send_errors


# --- capture --------------------------------------------------------------------------------

PROTOCOLS = {1: "icmp", 2: "igmp", 6: "tcp", 17: "udp", 47: "gre", 50: "esp", 112: "vrrp"}


def frame_dict(s, pkt):
    """A CapturedFrame dict for an Ethernet/IPv4 frame, else None."""
    if s.Ether not in pkt or s.IP not in pkt:
        return None
    ip = pkt[s.IP]
    return {
        "src_mac": str(pkt[s.Ether].src).lower(),
        "dst_mac": str(pkt[s.Ether].dst).lower(),
        "src_ip": ip.src,
        "dst_ip": ip.dst,
        "protocol": PROTOCOLS.get(ip.proto, "ip-%d" % ip.proto),
    }


def capture(
    iface,
    bpf="ip",
    timeout=10.0,
    count=500,
    ready_file=None,
    promisc=False,
    on_ready=None,
    stop_file=None,
    stop_grace=2.0,
):
    """Sniff on `iface` with BPF `bpf` until `count` frames, or `stop_grace` seconds after
    `stop_file` appears (whoever makes the frames creates it once they are all sent), or at the
    latest `timeout` seconds (promiscuous only if `promisc`). The window thus follows when the
    senders actually ran, however slow the machine, not a fixed guess.

    Returns (frames as CapturedFrame dicts for the IPv4 frames, number of frames seen, whether
    `count` stopped it). `ready_file` is written, and `on_ready` called, once the socket is
    listening.
    """
    s = load_scapy()
    interface(s, iface)
    try:
        sock = s.conf.L2listen(iface=iface, filter=bpf or None, promisc=promisc)
    except Exception as exc:  # Scapy_Exception, ImportError (no libpcap), OSError
        raise ProbeError("cannot capture on %s with filter %r: %s" % (iface, bpf, exc)) from None
    try:
        _grow_rcvbuf(sock)
        if ready_file:
            with open(ready_file, "w") as handle:
                handle.write("%d\n" % os.getpid())
        if on_ready is not None:
            on_ready()
        packets = _sniff_until(s, sock, time.monotonic() + timeout, count, stop_file, stop_grace)
    finally:
        sock.close()
    frames = [f for f in (frame_dict(s, p) for p in packets) if f is not None]
    return frames, len(packets), len(packets) >= count


def _sniff_until(s, sock, deadline, count, stop_file, stop_grace, step=0.25):
    """Frames from `sock`, in slices of `step` seconds, until `count`, `deadline`, or
    `stop_grace` after `stop_file` exists."""
    packets = []
    while len(packets) < count:
        now = time.monotonic()
        if stop_file and os.path.exists(stop_file):
            deadline = min(deadline, now + stop_grace)
            stop_file = None
        if now >= deadline:
            break
        got = s.sniff(
            opened_socket=sock,
            timeout=min(step, deadline - now),
            count=count - len(packets),
            store=True,
        )
        packets.extend(got)
    return packets


# --- traceroute -----------------------------------------------------------------------------

UDP_BASE_PORT = 33434


def source_for(destination):
    """The source address the kernel chooses towards `destination` (routes and policy rules),
    None if unroutable. Connecting a UDP socket sends nothing."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.connect((destination, 33434))
        src = sock.getsockname()[0]
    except OSError:
        return None
    finally:
        sock.close()
    return None if src == "0.0.0.0" else src


def _sources(destinations: List[str]) -> Dict[str, str]:
    """{destination: the source address the kernel chooses}; ProbeError when one is unroutable."""
    sources = {}
    for d in destinations:
        src = source_for(d)
        if src is None:
            raise ProbeError("no route to %s (no source address)" % d)
        sources[d] = src
    return sources


def _sweep_probes(
    s: Any,
    destinations: List[str],
    sources: Dict[str, str],
    max_hops: int,
    protocol: str,
    ident: int,
) -> Tuple[List[Any], Dict[tuple, Tuple[str, int]]]:
    """(packets, {answer key: (destination, ttl)}): one probe per destination and TTL."""
    probes = []
    keys = {}
    for di, d in enumerate(destinations):
        for ttl in range(1, max_hops + 1):
            ip = s.IP(src=sources[d], dst=d, ttl=ttl)
            if protocol == "udp":
                sport = (ident + di) & 0xFFFF
                dport = UDP_BASE_PORT + ttl - 1
                pkt, key = ip / s.UDP(sport=sport, dport=dport), (d, sport, dport)
            else:
                seq = di * 256 + ttl
                pkt, key = ip / s.ICMP(type=8, id=ident, seq=seq), (d, ident, seq)
            keys[key] = (d, ttl)
            probes.append(pkt / s.Raw(b"\x00" * 32))
    return probes, keys


def _answer_key(s: Any, pkt: Any, protocol: str) -> Optional[tuple]:
    """The key (as in `_sweep_probes`) of the probe an ICMP packet answers, else None."""
    if s.IP not in pkt or s.ICMP not in pkt:
        return None
    ip, icmp = pkt[s.IP], pkt[s.ICMP]
    if icmp.type == 0 and protocol == "icmp":
        return (ip.src, icmp.id, icmp.seq)
    if icmp.type in (3, 11) and s.IPerror in pkt:
        inner = pkt[s.IPerror]
        if protocol == "udp" and s.UDPerror in pkt:
            return (inner.dst, pkt[s.UDPerror].sport, pkt[s.UDPerror].dport)
        if protocol == "icmp" and s.ICMPerror in pkt:
            return (inner.dst, pkt[s.ICMPerror].id, pkt[s.ICMPerror].seq)
    return None


def traceroute(vm, destinations, max_hops=8, protocol="icmp", timeout=2.0):
    """TTL sweep 1..max_hops to every destination, all probes sent at once; Traceroute dicts.

    Hop `ttl` is the address that answered the probe with that TTL (ICMP time exceeded, or the
    destination's echo reply / port unreachable), None when nothing did; the list ends at the
    first TTL the destination itself answered (else at max_hops). Probes go through a raw IP
    socket; replies are collected until `timeout` seconds after the last probe.
    """
    s = load_scapy()
    ident = random.randint(0x1000, 0xEFFF)
    sources = _sources(destinations)
    probes, keys = _sweep_probes(s, destinations, sources, max_hops, protocol, ident)
    hops = {}  # (destination, ttl) -> (address, reached)

    def handle(pkt):
        where = keys.get(_answer_key(s, pkt, protocol))
        if where is not None and where not in hops:
            hops[where] = (pkt[s.IP].src, pkt[s.IP].src == where[0])

    _exchange(s, probes, timeout, handle, done=lambda: len(hops) >= len(probes))
    results = []
    for d in destinations:
        out = []
        for ttl in range(1, max_hops + 1):
            address, reached = hops.get((d, ttl), (None, False))
            out.append({"ttl": ttl, "address": address})
            if reached:
                break
        results.append({"vm": vm, "source_ip": sources[d], "destination": d, "hops": out})
    return results


def traceroute_in_namespaces(vms, destinations, **kwargs):
    """`traceroute` from each of `vms` (dicts with name and netns) at once: scapy is imported
    once, then one forked child per VM enters the VM's namespace and sweeps (the probes carry an
    explicit source address, so scapy's route cache of the parent is never used). Returns
    {"traceroutes": [...], "errors": {vm: message}}."""
    load_scapy()
    children = []
    for vm in vms:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            os.close(read_end)
            code = 0
            try:
                enter_netns(vm["netns"])
                out = {"traceroutes": traceroute(vm["name"], destinations, **kwargs)}
            except (ProbeError, OSError, ValueError) as exc:
                out, code = {"error": str(exc)}, 1
            with os.fdopen(write_end, "w") as pipe:
                json.dump(out, pipe)
            os._exit(code)
        os.close(write_end)
        children.append((vm["name"], pid, read_end))
    traces, errors = [], {}
    for name, pid, read_end in children:
        with os.fdopen(read_end) as pipe:
            text = pipe.read()
        os.waitpid(pid, 0)
        try:
            out = json.loads(text)
        except ValueError:
            out = {"error": "the probe process died"}
        traces.extend(out.get("traceroutes", ()))
        if "error" in out:
            errors[name] = out["error"]
    return {"traceroutes": traces, "errors": errors}


# --- everything from the probe host at once ------------------------------------------------


def edge_probe(iface, capture_args, arp_args, reach_args):
    """The capture (in a thread, `capture_args` for `capture`), then, once it listens, the ARP
    probe and the reach probe at the same time (`arp_args` for `arp_probe`, `reach_args` for
    `reach_probe`; either None to skip). Returns the dvr_edge_probe result keys: frames, seen,
    truncated (of `capture`), arp, reachability and send_errors. One scapy import and one process
    for all of it."""
    load_scapy()
    listening = threading.Event()
    captured = {}

    def run_capture():
        try:
            captured["result"] = capture(iface, on_ready=listening.set, **capture_args)
        except Exception as exc:  # re-raised in the caller's thread
            captured["error"] = exc
            listening.set()

    thread = threading.Thread(target=run_capture, daemon=True)
    thread.start()
    listening.wait(timeout=30)
    if "error" in captured:
        raise captured["error"]
    with ThreadPoolExecutor(max_workers=2) as pool:
        arp = pool.submit(arp_probe, iface, **arp_args) if arp_args else None
        reach = pool.submit(reach_probe, **reach_args) if reach_args else None
        arp_result = arp.result() if arp else []
        reach_result, send_errors = reach.result() if reach else ([], {})
    thread.join(capture_args.get("timeout", 10.0) + 30)
    if "error" in captured:
        raise captured["error"]
    if "result" not in captured:
        raise ProbeError("the capture did not end")
    frames, seen, truncated = captured["result"]
    return {
        "frames": frames,
        "seen": seen,
        "truncated": truncated,
        "arp": arp_result,
        "reachability": reach_result,
        "send_errors": send_errors,
    }
