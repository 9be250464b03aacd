"""Register services in the lab Keystone's catalog (idempotent). Runs in the lab venv.

Usage: keystone-catalog.py AUTH_URL ADMIN_PASSWORD REGION TYPE,NAME,URL...
Each service gets a public, internal and admin endpoint at URL. The services authenticate as
admin, which also gets role `service` on project admin: the service tokens Nova sends with a
user's token are valid only with that role (keystonemiddleware's service_token_roles).
Prints "changed" or "ok".
"""

import sys

from keystoneauth1 import session
from keystoneauth1.identity import v3

IDENTITY = {"service_type": "identity", "interface": "public"}


def register(sess, service_type, name, url, region):
    """Create the service and its missing endpoints; True when anything was created."""
    found = sess.get(f"/services?type={service_type}", endpoint_filter=IDENTITY).json()
    services = found["services"]
    if services:
        svc = services[0]
    else:
        body = {"service": {"type": service_type, "name": name, "enabled": True}}
        svc = sess.post("/services", json=body, endpoint_filter=IDENTITY).json()["service"]
    endpoints = sess.get(f"/endpoints?service_id={svc['id']}", endpoint_filter=IDENTITY).json()
    have = {e["interface"] for e in endpoints["endpoints"]}
    missing = [i for i in ("public", "internal", "admin") if i not in have]
    for interface in missing:
        body = {
            "endpoint": {
                "service_id": svc["id"],
                "interface": interface,
                "url": url,
                "region_id": region,
                "enabled": True,
            }
        }
        sess.post("/endpoints", json=body, endpoint_filter=IDENTITY)
    return bool(missing)


def grant_service_role(sess):
    """Role `service` for admin on project admin; True when anything was created."""
    roles = sess.get("/roles?name=service", endpoint_filter=IDENTITY).json()["roles"]
    created = not roles
    if created:
        body = {"role": {"name": "service"}}
        role = sess.post("/roles", json=body, endpoint_filter=IDENTITY).json()["role"]
    else:
        role = roles[0]
    user = sess.get("/users?name=admin", endpoint_filter=IDENTITY).json()["users"][0]
    project = sess.get("/projects?name=admin", endpoint_filter=IDENTITY).json()["projects"][0]
    path = f"/projects/{project['id']}/users/{user['id']}/roles/{role['id']}"
    sess.put(path, endpoint_filter=IDENTITY)
    return created


def main(auth_url, password, region, *services):
    auth = v3.Password(
        auth_url=auth_url,
        username="admin",
        password=password,
        project_name="admin",
        user_domain_id="default",
        project_domain_id="default",
    )
    sess = session.Session(auth=auth)
    changed = [register(sess, *svc.split(",", 2), region) for svc in services]
    changed.append(grant_service_role(sess))
    print("changed" if any(changed) else "ok")


if __name__ == "__main__":
    main(*sys.argv[1:])
