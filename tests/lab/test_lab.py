"""End-to-end tests of the local lab: a real Neutron DVR cloud (make lab-up).

Over SSH and openstacksdk, like on a real cloud: every inventory host answers `ansible -m ping`,
every agent is alive; then a distributed router, networks, a lab VM on each compute (the lab_vm
role) and a floating IP, and the real qrouter-/fip-/snat- namespaces and devices on the right
nodes. Everything the test creates is removed again.
"""

import json
import os
import signal
import time

import pytest
import scenario
from lab_nodes import lab_pid
from scenario import ansible

pytestmark = pytest.mark.lab

PREFIX = "lab-test"


def wait_for(what, fn, timeout=90, interval=1.0):
    """Poll fn() until it returns a truthy value; fail with the last value after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def netns(host):
    return {line.split()[0] for line in host.run("ip netns list").splitlines() if line.strip()}


def addrs(host, ns):
    """{device: [IPv4/prefix, ...]} in a namespace of a node (devices with an IPv4 address)."""
    out = {}
    for link in json.loads(host.run(f"ip -4 -n {ns} -j addr show")):
        out[link["ifname"]] = [f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", [])]
    return out


def addrs_with(host, ns, *devices):
    """addrs() once every device has an IPv4 address, else None."""
    a = addrs(host, ns)
    return a if all(a.get(d) for d in devices) else None


def ping_ok(host, command):
    """The output of a ping run on host if nothing was lost, else None."""
    out = host.run(command, check=False)
    return out if " 0% packet loss" in out else None


def dev(prefix, ident):
    return (prefix + ident)[:14]


def test_every_host_answers_ansible_ping(lab, hosts):
    res = ansible("ansible", "all", "-m", "ansible.builtin.ping", "-o")
    assert res.returncode == 0, res.stdout + res.stderr
    for name in hosts:
        assert f"{name} | SUCCESS" in res.stdout, res.stdout


def test_every_agent_is_alive(lab, hosts, conn):
    nodes = {h.neutron_host: h for h in hosts.values() if h.agent_mode}
    agents = list(conn.network.agents())
    assert agents, "no agents"
    assert all(a.is_alive for a in agents), [
        (a.host, a.agent_type) for a in agents if not a.is_alive
    ]
    by = {(a.host, a.agent_type): a for a in agents}
    for name, host in nodes.items():
        l3 = by[(name, "L3 agent")]
        ovs = by[(name, "Open vSwitch agent")]
        assert l3.configuration["agent_mode"] == host.agent_mode
        assert ovs.configuration["enable_distributed_routing"] is True
        assert ovs.configuration["l2_population"] is True
    dhcp = len(lab["groups"]["network_nodes"]) if lab["vars"].get("lab_dhcp_agent") else 0
    assert len(agents) == 2 * len(nodes) + dhcp


def test_an_agent_stalled_for_36s_still_gets_its_ports_bound(lab, hosts, conn):
    """A late heartbeat does not make an agent dead: the lab keeps Neutron's margins.

    On two cores with TCG guests booting, an agent's report thread can be starved for tens of
    seconds. The server then counts the agent dead (last heartbeat older than agent_down_time), and
    ML2 refuses to bind a port to a dead agent (mech_agent.AgentMechanismDriverBase.bind_port:
    "Refusing to bind port ... to dead agent"), so a boot would fail or an fg- port stay
    binding_failed (a risk, not the proven cause of any failure seen). With Neutron's defaults
    (report_interval 30, agent_down_time 75) a 36 s stall is at most 66 s since the last report;
    with the lab's former 10/30 it is always past 30 s. The agent is stopped (SIGSTOP) and
    continued by its recorded pid.
    """
    node = sorted(lab["groups"]["computes"])[0]
    neutron_host = hosts[node].neutron_host
    pid = lab_pid(f"{node.split('.')[0]}-openvswitch-agent")
    net = conn.network.create_network(name=f"{PREFIX}-stall")
    try:
        os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(36)
            agent = next(conn.network.agents(host=neutron_host, agent_type="Open vSwitch agent"))
            port = conn.network.create_port(
                network_id=net.id, name=f"{PREFIX}-stall", binding_host_id=neutron_host
            )
        finally:
            os.kill(pid, signal.SIGCONT)
        assert agent.is_alive, f"{neutron_host}'s OVS agent counted dead after a 36 s stall"
        assert port.binding_vif_type == "ovs", (neutron_host, port.binding_vif_type)
    finally:
        for p in conn.network.ports(network_id=net.id):
            conn.network.delete_port(p)
        conn.network.delete_network(net)


@pytest.fixture(scope="module")
def dvr(lab, hosts, conn):
    """A distributed router with a gateway, a tenant network, a VM per compute, a FIP on one."""
    made = {}
    try:
        scenario.build(conn, lab, sorted(lab["groups"]["computes"]), made)
        for vm in made["vms"]:
            wait_for(
                f"port {vm['port'].id} ACTIVE",
                lambda vm=vm: conn.network.get_port(vm["port"].id).status == "ACTIVE",
            )
        fip = made["fips"][0]
        wait_for(
            f"FIP {fip.floating_ip_address} ACTIVE",
            lambda: conn.network.get_ip(fip.id).status == "ACTIVE",
        )
        made["fip"] = conn.network.get_ip(fip.id)
        yield made
    finally:
        scenario.remove(conn, made)


def ports_of(conn, **query):
    return list(conn.network.ports(**query))


def test_dvr_namespaces_and_devices(lab, hosts, conn, dvr):
    router, ext, fip = dvr["router"], dvr["ext"], dvr["fip"]
    rid = router.id
    qrouter, snat, fipns = f"qrouter-{rid}", f"snat-{rid}", f"fip-{ext.id}"

    # SNAT host: the dvr_snat agent holding the router (non-HA: exactly one).
    l3 = list(conn.network.routers_hosting_l3_agents(router))
    assert len(l3) == 1, [a.host for a in l3]
    snat_host = next(h for h in hosts.values() if h.neutron_host == l3[0].host)
    assert snat_host.agent_mode == "dvr_snat"

    (qr_port,) = ports_of(conn, device_id=rid, device_owner="network:router_interface_distributed")
    (gw_port,) = ports_of(conn, device_id=rid, device_owner="network:router_gateway")
    (sg_port,) = ports_of(conn, device_id=rid, device_owner="network:router_centralized_snat")

    def fg_port(host):
        ports = ports_of(conn, network_id=ext.id, device_owner="network:floatingip_agent_gateway")
        return next((p for p in ports if p.binding_host_id == host.neutron_host), None)

    plen = dvr["subnet"].cidr.split("/")[1]

    def ip_of(port):
        return port.fixed_ips[0]["ip_address"]

    # The SNAT host: snat- with qg- (gateway IP) and sg- (csnat IP), plus its own qrouter-.
    wait_for(f"{snat} on {snat_host.name}", lambda: snat in netns(snat_host))
    qg, sg = dev("qg-", gw_port.id), dev("sg-", sg_port.id)
    snat_addrs = wait_for(f"qg-/sg- in {snat}", lambda: addrs_with(snat_host, snat, qg, sg))
    assert any(x.startswith(ip_of(gw_port) + "/") for x in snat_addrs[qg])
    assert f"{ip_of(sg_port)}/{plen}" in snat_addrs[sg]
    assert qrouter in netns(snat_host)

    # Every compute with a VM: qrouter- with qr- (subnet gateway) and rfp-; fip- with fg- and fpr-.
    for vm in dvr["vms"]:
        host = hosts[vm["host"]]
        wait_for(
            f"{qrouter} and {fipns} on {host.name}", lambda h=host: {qrouter, fipns} <= netns(h)
        )
        qr, rfp = dev("qr-", qr_port.id), dev("rfp-", rid)
        q = wait_for(
            f"{qr}/{rfp} on {host.name}", lambda h=host, d=(qr, rfp): addrs_with(h, qrouter, *d)
        )
        assert f"{ip_of(qr_port)}/{plen}" in q[qr]
        assert all(x.startswith("169.254.") for x in q[rfp])
        fg = wait_for(f"the fg port of {host.name}", lambda h=host: fg_port(h))
        fgd, fpr = dev("fg-", fg.id), dev("fpr-", rid)
        f = wait_for(
            f"{fgd}/{fpr} on {host.name}", lambda h=host, d=(fgd, fpr): addrs_with(h, fipns, *d)
        )
        assert any(x.startswith(ip_of(fg) + "/") for x in f[fgd])
        if host is not snat_host:
            assert snat not in netns(host), f"{snat} on compute {host.name}"

    # With the DHCP agent: qdhcp-<net> on a network node, its tap device holding the DHCP port's IP.
    if lab["vars"].get("lab_dhcp_agent"):
        net = dvr["net"]
        (dhcp_port,) = wait_for(
            "the DHCP port", lambda: ports_of(conn, network_id=net.id, device_owner="network:dhcp")
        )
        node = next(h for h in hosts.values() if h.neutron_host == dhcp_port.binding_host_id)
        assert "network_nodes" in [g for g, m in lab["groups"].items() if node.name in m]
        tap = dev("tap", dhcp_port.id)
        a = wait_for(f"{tap} in qdhcp-{net.id}", lambda: addrs_with(node, f"qdhcp-{net.id}", tap))
        assert f"{ip_of(dhcp_port)}/{plen}" in a[tap]

    # The tenant network is of the lab's type; with VXLAN each VM host tunnels to the SNAT host.
    net_type = lab["vars"].get("lab_tenant_network_type", "vlan")
    assert dvr["net"].provider_network_type == net_type
    if net_type == "vxlan":
        snat_tep = snat_host.run("ip -4 -br addr show br-phy").split()[2].split("/")[0]
        for vm in dvr["vms"]:
            host = hosts[vm["host"]]
            if host is not snat_host:
                remotes = host.run("ovs-vsctl --bare --columns=options find Interface type=vxlan")
                assert f"remote_ip={snat_tep}" in remotes.split(), remotes

    # The FIP lives on its VM's host: `from <fixed> lookup 16` in qrouter-, a /32 route in fip-.
    vm0 = dvr["vms"][0]
    host = hosts[vm0["host"]]
    rule = f"from {vm0['ip']} lookup 16"
    wait_for(
        f"'{rule}' in {qrouter} on {host.name}", lambda: rule in host.run(f"ip -n {qrouter} rule")
    )
    routes = host.run(f"ip -n {fipns} route show")
    assert f"{fip.floating_ip_address} via 169.254." in routes, routes


def test_north_south_traffic(lab, hosts, conn, dvr):
    """Packets: probe -> FIP (answered via the VM's host), VMs -> the 'internet' address."""
    probe = next(iter(hosts[n] for n in lab["groups"]["probe"]))
    fip = dvr["fip"].floating_ip_address
    internet = lab["vars"]["lab_internet_address"]
    wait_for(f"ping {fip} from the probe", lambda: ping_ok(probe, f"ping -c 2 -W 2 {fip}"), 60)
    vm0_host = hosts[dvr["vms"][0]["host"]]
    fg = next(
        p
        for p in conn.network.ports(
            network_id=dvr["ext"].id, device_owner="network:floatingip_agent_gateway"
        )
        if p.binding_host_id == vm0_host.neutron_host
    )
    arp = probe.run(f"arping -c 2 -w 5 -I eth-ext {fip}", check=False)
    assert fg.mac_address.lower() in arp.lower(), arp
    for vm in dvr["vms"]:
        cmd = f"ip netns exec vm-{vm['port'].id[:11]} ping -c 2 -W 2 {internet}"
        wait_for(
            f"ping {internet} from {vm['name']}",
            lambda h=hosts[vm["host"]], c=cmd: ping_ok(h, c),
            60,
        )


def test_traceroute_paths(lab, hosts, conn, dvr):
    """VM with a FIP: qr gateway -> fpr (169.254.x) -> external gateway -> the internet address;
    VM without: qr gateway -> the SNAT port (sg-) -> external gateway -> the internet address."""
    v = lab["vars"]
    internet, gateway = v["lab_internet_address"], v["lab_ext_gateway"]
    (sg_port,) = ports_of(
        conn, device_id=dvr["router"].id, device_owner="network:router_centralized_snat"
    )
    fip_ports = {f.port_id for f in conn.network.ips()}
    for vm in dvr["vms"]:
        out = hosts[vm["host"]].run(
            f"ip netns exec vm-{vm['port'].id[:11]} traceroute -n -q 1 -w 2 -m 6 {internet}"
        )
        hops = [line.split()[1] for line in out.splitlines()[1:] if len(line.split()) > 1]
        assert hops[0] == dvr["subnet"].gateway_ip, out
        assert hops[2:] == [gateway, internet], out
        if vm["port"].id in fip_ports:
            assert hops[1].startswith("169.254."), out
        else:
            assert hops[1] == sg_port.fixed_ips[0]["ip_address"], out


def test_tcp_to_floating_ip(lab, hosts, dvr):
    """TCP from the probe to the FIP reaches a server in the VM (checksum offload pitfall)."""
    probe = next(iter(hosts[n] for n in lab["groups"]["probe"]))
    vm = dvr["vms"][0]
    host, fip = hosts[vm["host"]], dvr["fip"].floating_ip_address
    host.run(
        f"setsid -f ip netns exec vm-{vm['port'].id[:11]} timeout 60 python3 -m http.server 8080"
        " </dev/null >/dev/null 2>&1"
    )
    try:
        wait_for(
            f"HTTP to {fip}:8080 from the probe",
            lambda: (
                probe.run(
                    f"curl -s -m 3 -o /dev/null -w '%{{http_code}}' http://{fip}:8080/", check=False
                )
                == "200"
            ),
            timeout=30,
        )
    finally:
        host.run(f"ip netns pids vm-{vm['port'].id[:11]} | xargs -r kill", check=False)


def test_security_group_is_enforced(lab, hosts, conn, dvr):
    """Security groups are on (OVS firewall): without the ICMP rule the FIP stops answering."""
    if lab["vars"].get("lab_firewall_driver", "openvswitch") == "noop":
        pytest.skip("security groups are off in this lab (firewall_driver noop)")
    probe = next(iter(hosts[n] for n in lab["groups"]["probe"]))
    fip = dvr["fip"].floating_ip_address
    sg = dvr["sg"]
    (rule,) = [
        r
        for r in conn.network.security_group_rules(security_group_id=sg.id)
        if r.protocol == "icmp"
    ]
    conn.network.delete_security_group_rule(rule)
    try:
        wait_for(
            f"ping {fip} to fail without the ICMP rule",
            lambda: "100% packet loss" in probe.run(f"ping -c 2 -W 1 {fip}", check=False),
            timeout=30,
        )
    finally:
        conn.network.create_security_group_rule(
            security_group_id=sg.id, direction="ingress", ethertype="IPv4", protocol="icmp"
        )
    wait_for(f"ping {fip} with the rule back", lambda: ping_ok(probe, f"ping -c 2 -W 2 {fip}"), 30)
