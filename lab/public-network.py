#!/usr/bin/env python3
"""Create the lab cloud's external network `public` (flat on physnet `external`), if missing.

A real cloud has its public network before anyone verifies it; so does the lab.
usage: public-network.py CLOUD CIDR GATEWAY POOL_START POOL_END
"""

import sys

import openstack


def main(cloud: str, cidr: str, gateway: str, start: str, end: str) -> int:
    conn = openstack.connect(cloud=cloud)
    if conn.network.find_network("public") is not None:
        print("public network present")
        return 0
    net = conn.network.create_network(
        name="public",
        is_router_external=True,
        provider_network_type="flat",
        provider_physical_network="external",
    )
    conn.network.create_subnet(
        network_id=net.id,
        name="public-subnet",
        ip_version=4,
        cidr=cidr,
        gateway_ip=gateway,
        is_dhcp_enabled=False,
        allocation_pools=[{"start": start, "end": end}],
    )
    print(f"public network created: {net.id} changed")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:6]))
