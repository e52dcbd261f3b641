#!/usr/bin/env bash
# Development services for the commerce backend: PostgreSQL (with pg_trgm)
# and Redis. Behind `make services`; safe to run any number of times, and
# quick when everything is already up.
#
# Usage:
#   scripts/services.sh          find or start Postgres and Redis, write .data/services.env
#   scripts/services.sh stop     stop the private Postgres/Redis this script started
#                                (a server that was already running is never touched)
#   scripts/services.sh chromium install Debian's chromium when /usr/bin/chromium is
#                                missing (the browser tests drive it; behind `make test`)
#   scripts/services.sh pgbouncer install Debian's pgbouncer when it is missing (the
#                                test behind PgBouncer starts its own; behind `make test`)
#
# What it does:
#   Postgres  uses the server on 127.0.0.1:5432 when user `postgres` can log in
#             without a password; otherwise starts (creating it the first time)
#             a private cluster in .data/postgres on 127.0.0.1:55432, installing
#             the Debian packages postgresql and postgresql-contrib if needed.
#             Checks that pg_trgm is available and that the database `commerce`
#             (used by `make run`) exists.
#   Redis     uses the server on 127.0.0.1:6379 when it answers PING; otherwise
#             starts a private redis-server on 127.0.0.1:56379 (data in .data/redis,
#             nothing persisted), installing the package redis-server if needed.
#   Writes .data/services.env: DATABASE_URL, TEST_DATABASE_URL, REDIS_URL,
#   TEST_REDIS_URL, which the Makefile reads.
#
# Environment:
#   COMMERCE_PRIVATE_SERVICES=1  skip the servers on 5432/6379 and use the private
#                                ones (to exercise that path, or to keep the
#                                system servers out of it).
#
# Packages are installed with apt-get (through sudo when not root). As root,
# the private cluster runs as the `postgres` system user (initdb refuses root);
# when that user cannot reach .data, the cluster lives in
# /var/tmp/commerce-pg-<uid> instead (the script says so).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA="$ROOT/.data"
ENV_FILE="$DATA/services.env"

SYSTEM_PG_PORT=5432
PRIVATE_PG_PORT=55432
SYSTEM_REDIS_PORT=6379
PRIVATE_REDIS_PORT=56379
DEV_DB=commerce

REDIS_DIR="$DATA/redis"
REDIS_PIDFILE="$REDIS_DIR/redis.pid"
REDIS_LOG="$DATA/redis.log"

PGDATA_DIR="" # set by set_pg_paths

CHROMIUM=/usr/bin/chromium # where Debian's package puts it, and where the tests look
PGBOUNCER=/usr/sbin/pgbouncer # likewise

PRIVATE=${COMMERCE_PRIVATE_SERVICES:-0}
[[ $PRIVATE == 1 || $PRIVATE == true ]] && PRIVATE=1 || PRIVATE=0

say() { printf '%s\n' "$*"; }
die() { printf 'services: %s\n' "$*" >&2; exit 1; }
is_root() { [[ $(id -u) == 0 ]]; }

# as_root runs a command as root: directly, or through sudo.
as_root() {
	if is_root; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		die "need root to run '$*' and sudo is not installed; install it yourself or run as root"
	fi
}

# apt_install installs the Debian packages given, once per run.
APT_UPDATED=0
apt_install() {
	command -v apt-get >/dev/null 2>&1 ||
		die "apt-get not found: install $* with your package manager, then run this again"
	say "installing $* (apt-get)"
	if [[ $APT_UPDATED == 0 ]]; then
		as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
		APT_UPDATED=1
	fi
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
}

# as_pg runs a command as the owner of the private cluster: the postgres
# system user when we are root, else ourselves. From / so that the
# postgres user never needs access to the current directory.
as_pg() {
	if is_root; then
		(cd / && if command -v runuser >/dev/null 2>&1; then
			runuser -u postgres -- "$@"
		else
			su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
		fi)
	else
		"$@"
	fi
}

# psql_at runs one query as user postgres over TCP, without a password prompt.
psql_at() {
	local port=$1 db=$2 sql=$3
	psql -X -w -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d "$db" -c "$sql"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

redis_ping() {
	local port=$1 reply=""
	if command -v redis-cli >/dev/null 2>&1; then
		reply=$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null) || return 1
	else
		# No client installed: speak the protocol over bash's /dev/tcp.
		reply=$( (exec 3<>"/dev/tcp/127.0.0.1/$port" && printf 'PING\r\n' >&3 &&
			IFS= read -r -t 2 line <&3 && printf '%s' "$line") 2>/dev/null) || return 1
	fi
	[[ ${reply%$'\r'} == PONG || ${reply%$'\r'} == +PONG ]]
}

# pg_bindir prints the directory holding initdb and pg_ctl, preferring the
# major version the cluster was created with.
pg_bindir() {
	local want="" dir
	[[ -f $PGDATA_DIR/PG_VERSION ]] && want=$(<"$PGDATA_DIR/PG_VERSION")
	if [[ -n $want && -x /usr/lib/postgresql/$want/bin/pg_ctl ]]; then
		echo "/usr/lib/postgresql/$want/bin"
		return
	fi
	dir=$(shopt -s nullglob && printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
	if [[ -n $dir && -x $dir/pg_ctl && -x $dir/initdb ]]; then
		echo "$dir"
	elif command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
		dirname "$(command -v pg_ctl)"
	fi
}

# pg_base picks where the private cluster lives: .data, unless we are root
# and the postgres user cannot reach it.
pg_base() {
	mkdir -p "$DATA"
	if is_root && id postgres >/dev/null 2>&1; then
		chmod go+x "$DATA"
		if ! as_pg test -x "$DATA"; then
			local alt
			alt="/var/tmp/commerce-pg-$(id -u)"
			say "postgres: the postgres user cannot reach $DATA (check the permissions of its parents); using $alt" >&2
			mkdir -p "$alt"
			chmod 755 "$alt"
			echo "$alt"
			return
		fi
	fi
	echo "$DATA"
}

set_pg_paths() {
	PG_BASE=$(pg_base)
	PGDATA_DIR="$PG_BASE/postgres"
	PG_LOG="$PG_BASE/postgres.log"
	PG_SOCKETS="$PG_BASE/pg-run"
}

start_private_postgres() {
	if ! command -v psql >/dev/null 2>&1 || [[ -z $(pg_bindir) ]]; then
		apt_install postgresql postgresql-contrib
	fi
	if is_root && ! id postgres >/dev/null 2>&1; then
		die "no 'postgres' system user to run the cluster as (initdb refuses root); create one or run as a normal user"
	fi
	set_pg_paths
	local bin
	bin=$(pg_bindir)
	[[ -n $bin ]] || die "initdb/pg_ctl not found under /usr/lib/postgresql/*/bin or in PATH"

	if pg_isready -q -h 127.0.0.1 -p "$PRIVATE_PG_PORT" 2>/dev/null; then
		say "postgres: private cluster already running on 127.0.0.1:$PRIVATE_PG_PORT ($PGDATA_DIR)"
		return
	fi
	# The server writes its socket and log here, so the cluster's owner owns them.
	mkdir -p "$PG_SOCKETS"
	touch "$PG_LOG"
	if is_root; then chown postgres: "$PG_SOCKETS" "$PG_LOG"; fi
	if [[ ! -f $PGDATA_DIR/PG_VERSION ]]; then
		say "postgres: creating a private cluster in $PGDATA_DIR"
		mkdir -p "$PGDATA_DIR"
		chmod 700 "$PGDATA_DIR"
		if is_root; then chown postgres: "$PGDATA_DIR"; fi
		local locale=(--no-locale)
		locale -a 2>/dev/null | grep -ix 'c.utf-\?8' >/dev/null && locale=(--locale=C.UTF-8)
		as_pg "$bin/initdb" -D "$PGDATA_DIR" -A trust -U postgres -E UTF8 "${locale[@]}" >"$PG_BASE/initdb.log" 2>&1 ||
			die "initdb failed, see $PG_BASE/initdb.log"
		# Clients here use TCP; the socket is a bonus when its path fits
		# the kernel's limit (107 bytes).
		local sockets=$PG_SOCKETS
		((${#sockets} + 16 < 107)) || sockets=""
		# A disposable development cluster: durability traded for speed.
		as_pg tee -a "$PGDATA_DIR/postgresql.conf" >/dev/null <<-EOF

			# Added by scripts/services.sh
			listen_addresses = '127.0.0.1'
			port = $PRIVATE_PG_PORT
			unix_socket_directories = '$sockets'
			max_connections = 200
			fsync = off
			synchronous_commit = off
			full_page_writes = off
		EOF
	fi
	say "postgres: starting the private cluster on 127.0.0.1:$PRIVATE_PG_PORT (log: $PG_LOG)"
	as_pg "$bin/pg_ctl" -D "$PGDATA_DIR" -l "$PG_LOG" -w -t 60 start >/dev/null ||
		die "pg_ctl start failed, see $PG_LOG"
}

setup_postgres() {
	PG_PORT=""
	if [[ $PRIVATE == 0 ]] && port_open "$SYSTEM_PG_PORT"; then
		command -v psql >/dev/null 2>&1 || apt_install postgresql-client
		if psql_at "$SYSTEM_PG_PORT" postgres 'select 1' >/dev/null 2>&1; then
			PG_PORT=$SYSTEM_PG_PORT
			PG_KIND=system
			say "postgres: using the server on 127.0.0.1:$SYSTEM_PG_PORT"
		else
			say "postgres: the server on 127.0.0.1:$SYSTEM_PG_PORT refuses a passwordless login as postgres; using a private cluster"
		fi
	fi
	if [[ -z $PG_PORT ]]; then
		start_private_postgres
		PG_PORT=$PRIVATE_PG_PORT
		PG_KIND=private
	fi

	# One round trip for both checks.
	local state
	state=$(psql_at "$PG_PORT" postgres "select
		(select count(*) from pg_available_extensions where name = 'pg_trgm'),
		(select count(*) from pg_database where datname = '$DEV_DB')") ||
		die "cannot query Postgres on 127.0.0.1:$PG_PORT as user postgres"
	if [[ ${state%%|*} == 0 ]]; then
		apt_install postgresql-contrib
		[[ $(psql_at "$PG_PORT" postgres "select count(*) from pg_available_extensions where name = 'pg_trgm'") != 0 ]] ||
			die "the extension pg_trgm is not available on 127.0.0.1:$PG_PORT (install the contrib package matching the server)"
	fi
	if [[ ${state##*|} == 0 ]]; then
		psql_at "$PG_PORT" postgres "create database $DEV_DB" >/dev/null
		say "postgres: created the database $DEV_DB"
	fi
}

setup_redis() {
	if [[ $PRIVATE == 0 ]] && redis_ping "$SYSTEM_REDIS_PORT"; then
		REDIS_PORT=$SYSTEM_REDIS_PORT
		REDIS_KIND=system
		say "redis: using the server on 127.0.0.1:$SYSTEM_REDIS_PORT"
		return
	fi
	REDIS_PORT=$PRIVATE_REDIS_PORT
	REDIS_KIND=private
	if redis_ping "$PRIVATE_REDIS_PORT"; then
		say "redis: private server already running on 127.0.0.1:$PRIVATE_REDIS_PORT"
		return
	fi
	command -v redis-server >/dev/null 2>&1 || apt_install redis-server
	mkdir -p "$REDIS_DIR"
	say "redis: starting a private server on 127.0.0.1:$PRIVATE_REDIS_PORT (log: $REDIS_LOG)"
	redis-server --daemonize yes --bind 127.0.0.1 --port "$PRIVATE_REDIS_PORT" \
		--save "" --appendonly no --dir "$REDIS_DIR" \
		--pidfile "$REDIS_PIDFILE" --logfile "$REDIS_LOG" >/dev/null
	local i
	for ((i = 0; i < 50; i++)); do
		redis_ping "$PRIVATE_REDIS_PORT" && return
		sleep 0.1
	done
	die "redis-server did not answer on 127.0.0.1:$PRIVATE_REDIS_PORT, see $REDIS_LOG"
}

write_env() {
	local content
	content="# Written by scripts/services.sh (postgres: $PG_KIND, redis: $REDIS_KIND). Do not edit.
DATABASE_URL=postgres://postgres@127.0.0.1:$PG_PORT/$DEV_DB?sslmode=disable
TEST_DATABASE_URL=postgres://postgres@127.0.0.1:$PG_PORT/postgres?sslmode=disable
REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0
TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0"
	mkdir -p "$DATA"
	if [[ ! -f $ENV_FILE || $(<"$ENV_FILE") != "$content" ]]; then
		printf '%s\n' "$content" >"$ENV_FILE.tmp"
		mv "$ENV_FILE.tmp" "$ENV_FILE"
		say "wrote ${ENV_FILE#"$ROOT"/}"
	fi
}

# ensure_chromium installs the headless browser that the tests of /admin and
# /playground drive (chromedp); they skip, saying so, without it.
ensure_chromium() {
	if [[ -x $CHROMIUM ]]; then
		return
	fi
	apt_install chromium
	[[ -x $CHROMIUM ]] || die "the chromium package did not install $CHROMIUM"
}

# ensure_pgbouncer installs the connection pooler that e2e's
# TestE2EBehindPgbouncer starts (its own process, on a free port: the
# package's service, if the install starts one, is not used); the test
# skips, saying so, without it.
ensure_pgbouncer() {
	if [[ -x $PGBOUNCER ]] || command -v pgbouncer >/dev/null 2>&1; then
		return
	fi
	apt_install pgbouncer
	[[ -x $PGBOUNCER ]] || die "the pgbouncer package did not install $PGBOUNCER"
}

start() {
	setup_postgres
	setup_redis
	write_env
}

stop() {
	set_pg_paths
	if [[ -f $PGDATA_DIR/postmaster.pid ]]; then
		local bin
		bin=$(pg_bindir)
		[[ -n $bin ]] || die "pg_ctl not found"
		if as_pg "$bin/pg_ctl" -D "$PGDATA_DIR" status >/dev/null 2>&1; then
			as_pg "$bin/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop >/dev/null
			say "postgres: stopped the private cluster ($PGDATA_DIR)"
		fi
	fi
	if [[ -f $REDIS_PIDFILE ]]; then
		local pid i
		pid=$(<"$REDIS_PIDFILE")
		if [[ $pid =~ ^[0-9]+$ ]] && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == redis-server* ]]; then
			kill "$pid"
			for ((i = 0; i < 50; i++)); do
				kill -0 "$pid" 2>/dev/null || break
				sleep 0.1
			done
			say "redis: stopped the private server (pid $pid)"
		fi
		rm -f "$REDIS_PIDFILE"
	fi
	# The next start finds out again which servers to use.
	rm -f "$ENV_FILE"
}

case "${1:-start}" in
start) start ;;
stop) stop ;;
chromium) ensure_chromium ;;
pgbouncer) ensure_pgbouncer ;;
*) die "usage: $0 [start|stop|chromium|pgbouncer]" ;;
esac
