#!/bin/bash
# nova-db.sh DB_SOCKET CELL0_URL [CACHE_FILE]: create and migrate Placement's, Glance's and Nova's
# databases (configs in $LAB_STATE/{placement,glance,nova}), set up cells v2 (cell0 at CELL0_URL,
# cell1 from nova.conf) and, with CACHE_FILE, dump the five databases there (before any service
# writes to them). Placement's and Glance's migrations run beside Nova's.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
sock=$1 cell0=$2 cache=${3:-}
db() { mariadb --no-defaults -S "$sock" -uroot "$@"; }
dbs="placement glance nova_api nova nova_cell0"
for d in $dbs; do db -e "CREATE DATABASE $d"; done
placement-manage --config-file "$LAB_STATE/placement/placement.conf" db sync &
p1=$!
glance-manage --config-file "$LAB_STATE/glance/glance-api.conf" db_sync >/dev/null &
p2=$!
nova() { nova-manage --config-file "$LAB_STATE/nova/nova.conf" "$@"; }
nova api_db sync
nova cell_v2 map_cell0 --database_connection "$cell0"
nova cell_v2 create_cell --name cell1 >/dev/null
nova db sync
wait "$p1"
wait "$p2"
if [ -n "$cache" ]; then
  mkdir -p "$(dirname "$cache")"
  # shellcheck disable=SC2086  # (word splitting of the list is intended)
  mariadb-dump --no-defaults -S "$sock" -uroot --databases $dbs > "$cache.tmp"
  mv "$cache.tmp" "$cache"
fi
