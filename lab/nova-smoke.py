"""Boot one guest on every lab compute through Nova, reach its sshd, delete it; print the times.

Runs with the project's venv (openstacksdk), from the repo root (clouds.yaml there), as root.
Usage: nova-smoke.py --cloud dvr-lab --state /var/lib/dvr-lab --image NAME --flavor NAME HOST...
A throwaway network `dvr-lab-smoke` (DHCP on) gets a port per HOST; each server boots pinned to
its HOST, and its sshd counts as reached when its SSH banner answers from the network's qdhcp-
namespace on the node hosting its DHCP agent. Everything it made is deleted again, also on
failure. This proves each compute boots a guest before anything else runs, and warms what a
compute does once (privsep daemons, image cache, libvirt), so the first verification after
lab-up times what every later one does. Exit 1 naming the host when a boot fails or its sshd
never answers.
"""

import argparse
import subprocess
import sys
import time
from pathlib import Path

import openstack

NAME = "dvr-lab-smoke"


def banner(state, dhcp_host, network_id, address):
    """The SSH banner the guest at `address` sends, seen from the network's qdhcp- namespace."""
    node = dhcp_host.split(".")[0]
    anchor = Path(state, "pids", f"{node}-anchor.pid").read_text().split()[0]
    done = subprocess.run(
        ["nsenter", "-t", anchor, "-m", "-n", "-u", "--", "ip", "netns", "exec",
         f"qdhcp-{network_id}", "nc", "-w", "2", address, "22"],
        capture_output=True, timeout=10, input=b"",
    )  # fmt: skip
    # (the banner line, then the binary key exchange)
    first = done.stdout.split(b"\n", 1)[0].decode("ascii", "replace").strip()
    return first if first.startswith("SSH-") else ""


def boot_all(conn, args, net):
    """{host: (server, address, booted at)} of the servers booted on every host."""
    image = conn.image.find_image(args.image, ignore_missing=False)
    flavor = conn.compute.find_flavor(args.flavor, ignore_missing=False)
    servers = {}
    for host in args.hosts:
        # (no security group: the banner is read from the qdhcp- namespace, in no group)
        port = conn.network.create_port(
            network_id=net.id, name=f"{NAME}-{host}", port_security_enabled=False
        )
        server = conn.compute.create_server(
            name=f"{NAME}-{host.split('.')[0]}", image_id=image.id, flavor_id=flavor.id,
            networks=[{"port": port.id}], availability_zone=f"nova:{host}", config_drive=True,
        )  # fmt: skip
        servers[host] = (server, port.fixed_ips[0]["ip_address"], time.monotonic())
    return servers


def wait_all(conn, args, net, servers, deadline):
    """{host: (seconds to ACTIVE, seconds to the SSH banner)}; raises naming a failed host."""
    dhcp = None  # the node whose qdhcp- namespace serves the network, once it is scheduled
    active, reached = {}, {}
    while len(reached) < len(servers):
        if time.monotonic() > deadline:
            missing = sorted(set(servers) - set(reached))
            raise RuntimeError(f"no SSH banner within {args.wait:.0f} s from {', '.join(missing)}")
        for host, (server, address, booted) in servers.items():
            if host not in active:
                server = conn.compute.get_server(server.id)
                if server.status == "ERROR":
                    raise RuntimeError(
                        f"{host}: boot failed: {(server.fault or {}).get('message')}"
                    )
                if server.status == "ACTIVE":
                    active[host] = time.monotonic() - booted
            elif host not in reached:
                agents = [] if dhcp else list(conn.network.network_hosting_dhcp_agents(net))
                dhcp = dhcp or (agents[0].host if agents else None)
                if dhcp and banner(args.state, dhcp, net.id, address):
                    reached[host] = time.monotonic() - booted
        time.sleep(1)
    return {h: (active[h], reached[h]) for h in servers}


def cleanup(conn):
    for server in conn.compute.servers(name=f"^{NAME}-"):
        conn.compute.delete_server(server)
        conn.compute.wait_for_delete(server, wait=120)
    for net in conn.network.networks(name=NAME):
        for port in conn.network.ports(network_id=net.id, device_owner=""):
            conn.network.delete_port(port)
        conn.network.delete_network(net)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cloud", required=True)
    ap.add_argument("--state", required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--flavor", required=True)
    ap.add_argument("--wait", type=float, default=240)
    ap.add_argument("hosts", nargs="+")
    args = ap.parse_args()
    conn = openstack.connect(cloud=args.cloud)
    cleanup(conn)  # an interrupted earlier smoke boot
    try:
        net = conn.network.create_network(name=NAME)
        conn.network.create_subnet(network_id=net.id, cidr="10.0.254.0/24", ip_version=4, name=NAME)
        servers = boot_all(conn, args, net)
        times = wait_all(conn, args, net, servers, time.monotonic() + args.wait)
    except RuntimeError as exc:
        print(f"nova smoke boot: {exc}")
        return 1
    finally:
        cleanup(conn)
    for host, (up, ssh) in sorted(times.items()):
        print(f"nova smoke boot: {host}: ACTIVE in {up:.1f} s, SSH banner in {ssh:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
