"""Wait until the Neutron RPC server consumes its topics (runs in the lab venv: py-amqp).

Agents started before that lose their first RPC calls and back off for a minute or more.
Usage: wait-rpc.py HOST:PORT USER PASSWORD TIMEOUT
"""

import sys
import time

import amqp

TOPICS = ("q-plugin", "q-reports-plugin", "q-l3-plugin")


def consumers(channel, queue):
    try:
        return channel.queue_declare(queue, passive=True).consumer_count
    except amqp.exceptions.NotFound:
        return None


def main(host, user, password, timeout):
    deadline = time.monotonic() + float(timeout)
    missing = TOPICS
    while time.monotonic() < deadline:
        try:
            with amqp.Connection(host=host, userid=user, password=password) as conn:
                while time.monotonic() < deadline:
                    channel = conn.channel()
                    missing = [q for q in TOPICS if not consumers(channel, q)]
                    if not missing:
                        print("rpc server consuming: " + ", ".join(TOPICS))
                        return 0
                    if channel.is_open:
                        channel.close()
                    time.sleep(0.3)
        except (OSError, amqp.exceptions.AMQPError):
            time.sleep(0.5)
    print(f"timed out: no consumer on {', '.join(missing)}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
