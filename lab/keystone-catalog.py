"""Register Neutron in the lab Keystone's catalog (idempotent). Runs in the lab venv.

Usage: keystone-catalog.py AUTH_URL ADMIN_PASSWORD NEUTRON_URL REGION
"""

import sys

from keystoneauth1 import session
from keystoneauth1.identity import v3


def main(auth_url, password, neutron_url, region):
    auth = v3.Password(
        auth_url=auth_url,
        username="admin",
        password=password,
        project_name="admin",
        user_domain_id="default",
        project_domain_id="default",
    )
    sess = session.Session(auth=auth)
    ident = {"service_type": "identity", "interface": "public"}
    services = sess.get("/services?type=network", endpoint_filter=ident).json()["services"]
    if services:
        svc = services[0]
    else:
        body = {"service": {"type": "network", "name": "neutron", "enabled": True}}
        svc = sess.post("/services", json=body, endpoint_filter=ident).json()["service"]
    endpoints = sess.get(f"/endpoints?service_id={svc['id']}", endpoint_filter=ident).json()
    have = {e["interface"] for e in endpoints["endpoints"]}
    changed = False
    for interface in ("public", "internal", "admin"):
        if interface in have:
            continue
        body = {
            "endpoint": {
                "service_id": svc["id"],
                "interface": interface,
                "url": neutron_url,
                "region_id": region,
                "enabled": True,
            }
        }
        sess.post("/endpoints", json=body, endpoint_filter=ident)
        changed = True
    print("changed" if changed else "ok")


if __name__ == "__main__":
    main(*sys.argv[1:5])
