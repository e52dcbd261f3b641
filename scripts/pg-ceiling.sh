#!/bin/sh
# pg-ceiling.sh measures what the Postgres of this machine can do at most,
# for the capacity model of docs/scaling.md (`make pg-ceiling`): pgbench's
# indexed primary-key reads and its small durable write transactions, in
# a throwaway database, with the client on the same cores as Postgres (as
# the load benchmark's are). Statements run unprepared over the extended
# protocol (`-M extended`), as the service's pgx pool sends them
# (QueryExecModeExec).
#
#   scripts/pg-ceiling.sh                 # 10 s per test, 8 clients
#   DURATION=30 CLIENTS=16 scripts/pg-ceiling.sh
set -eu

url=${TEST_DATABASE_URL:-}
if [ -z "$url" ] && [ -f .data/services.env ]; then
	url=$(sed -n 's/^TEST_DATABASE_URL=//p' .data/services.env)
fi
if [ -z "$url" ]; then
	echo "pg-ceiling: set TEST_DATABASE_URL or run \`make services\`" >&2
	exit 2
fi
duration=${DURATION:-10}
clients=${CLIENTS:-8}
db=pgceiling_$$
# The same server and credentials, the throwaway database.
dburl=$(printf '%s' "$url" | sed -E "s#^([a-z]+://[^/]*)/[^?]*#\1/$db#")

psql -X -q "$url" -c "CREATE DATABASE $db"
trap 'psql -X -q "$url" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"' EXIT INT TERM

# Scale 10: 1,000,000 accounts (about 150 MB), a little more than
# shared_buffers' default 128 MB, like a catalog whose hot part is cached.
pgbench -q -i -s 10 "$dburl" >/dev/null 2>&1

echo "Postgres: $(psql -X -Atc 'SHOW server_version' "$url"), max_connections $(psql -X -Atc 'SHOW max_connections' "$url"), synchronous_commit $(psql -X -Atc 'SHOW synchronous_commit' "$url")"
echo "Machine: $(nproc) CPUs, load average before: $(cut -d' ' -f1-3 /proc/loadavg); $clients clients, ${duration} s per test"

run() {
	label=$1
	shift
	tps=$(pgbench -n -M extended -c "$clients" -j 2 -T "$duration" "$@" "$dburl" 2>/dev/null |
		sed -n 's/^tps = \([0-9]*\).*/\1/p')
	printf '%-58s %s transactions/s\n' "$label" "$tps"
}
run "indexed reads (-S: one SELECT by primary key)" -S
run "durable writes (-N: UPDATE, SELECT, INSERT, COMMIT)" -N
