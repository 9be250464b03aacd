"""Put the lab's guest image into Glance and create a flavor that fits it (idempotent).

Runs with the project's venv (openstacksdk), from the repo root (clouds.yaml there).
Usage: nova-resources.py --cloud dvr-lab IMAGE_FILE IMAGE_NAME FLAVOR_NAME RAM_MB HOST...
The image boots on a pc (i440fx) machine, where the config drive is an IDE CD-ROM the guest
kernel can read. The HOSTs (computes) go into aggregate dvr-lab-computes, and Nova caches the
image on each of them ahead of the first boot (the aggregate image cache, microversion 2.81).
Prints "changed" or "ok".
"""

import argparse

import openstack

AGGREGATE = "dvr-lab-computes"
IMAGE_PROPERTIES = {"hw_machine_type": "pc", "hw_vif_model": "virtio", "hw_disk_bus": "virtio"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cloud", required=True)
    ap.add_argument("image_file")
    ap.add_argument("image_name")
    ap.add_argument("flavor_name")
    ap.add_argument("ram", type=int)
    ap.add_argument("hosts", nargs="+")
    args = ap.parse_args()
    conn = openstack.connect(cloud=args.cloud)
    changed = False
    image = conn.image.find_image(args.image_name)
    if not image:
        image = conn.create_image(
            args.image_name,
            filename=args.image_file,
            disk_format="qcow2",
            container_format="bare",
            visibility="public",
            wait=True,
            **IMAGE_PROPERTIES,
        )
        changed = True
    if not conn.compute.find_flavor(args.flavor_name):
        flavor = {"name": args.flavor_name, "ram": args.ram, "vcpus": 1, "disk": 1}
        conn.compute.create_flavor(is_public=True, **flavor)
        changed = True
    changed |= precache(conn, image.id, args.hosts)
    print("changed" if changed else "ok")


def precache(conn, image_id, hosts):
    """Aggregate dvr-lab-computes with `hosts`, and Nova asked to cache the image on them."""
    aggregate = conn.compute.find_aggregate(AGGREGATE)
    created = aggregate is None
    if created:
        aggregate = conn.compute.create_aggregate(name=AGGREGATE)
    for host in sorted(set(hosts) - set(aggregate.hosts or [])):
        aggregate = conn.compute.add_host_to_aggregate(aggregate, host)
    conn.compute.aggregate_precache_images(aggregate, [image_id])
    return created


if __name__ == "__main__":
    main()
