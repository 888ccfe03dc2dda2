#!/usr/bin/env bash
# test-services.sh CMD [ARGS...]
#
# Runs CMD with PostgreSQL and Redis available to it through
# FLUXHOOK_TEST_POSTGRES_URL and FLUXHOOK_TEST_REDIS_URL. A variable that
# is already set is used as is; otherwise the script starts a throwaway
# server from the installed binaries (installing the Debian package first
# when it is missing and we are root) on a free loopback port, with its
# data in a temporary directory. Both servers are stopped and their
# directories removed when the script exits, whatever CMD's outcome; the
# script exits with CMD's status.
#
# Servers already running on this machine (5432, 6379, ...) are never
# touched: the throwaway ones pick other, free ports.
set -euo pipefail

log() { printf '%s\n' "test-services: $*" >&2; }
die() {
	log "$*"
	exit 1
}

if [[ $# -eq 0 ]]; then
	die "usage: $0 CMD [ARGS...]"
fi

tmp_root=${TMPDIR:-/tmp}
pg_bin=""
pg_tmp=""
pg_data=""
pg_started=0
redis_tmp=""
redis_pid=""
policy_rc_created=0
createcluster_created=""
createcluster_dir_created=""

# as_pg runs a command as the user that owns the PostgreSQL data
# directory: ourselves, or the postgres system user when we are root,
# because initdb and postgres refuse to run as root.
as_pg() {
	if [[ $EUID -ne 0 ]]; then
		"$@"
	elif command -v setpriv >/dev/null 2>&1; then
		setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
	else
		runuser -u postgres -- "$@"
	fi
}

# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
	local status=$?
	set +e
	trap - EXIT
	trap '' INT TERM
	if [[ $pg_started -eq 1 ]]; then
		as_pg "$pg_bin/pg_ctl" -D "$pg_data" -m fast -t 20 -w stop >/dev/null 2>&1
		if [[ -f $pg_data/postmaster.pid ]]; then
			local pid
			pid=$(head -n 1 "$pg_data/postmaster.pid" 2>/dev/null)
			if [[ $pid =~ ^[0-9]+$ ]]; then
				kill -KILL "$pid" 2>/dev/null
			fi
		fi
	fi
	if [[ -n $redis_pid ]]; then
		kill -TERM "$redis_pid" 2>/dev/null
		local i
		for ((i = 0; i < 100; i++)); do
			kill -0 "$redis_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$redis_pid" 2>/dev/null
		wait "$redis_pid" 2>/dev/null
	fi
	[[ -n $pg_tmp ]] && rm -rf -- "$pg_tmp"
	[[ -n $redis_tmp ]] && rm -rf -- "$redis_tmp"
	undo_apt_setup
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# port_free reports whether nothing listens on 127.0.0.1:$1.
port_free() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# free_port prints a loopback port nothing listens on, trying ports from
# a random start so that concurrent runs rarely collide.
free_port() {
	local p=$((20000 + RANDOM % 30000)) i
	for ((i = 0; i < 500; i++)); do
		if port_free "$p"; then
			echo "$p"
			return 0
		fi
		p=$((p + 1))
		if ((p > 60999)); then p=20000; fi
	done
	die "no free port found on 127.0.0.1"
}

# apt_install installs Debian packages quietly, without starting their
# services and without letting postgresql create its own "main" cluster:
# we only want the binaries.
apt_install() {
	if [[ $EUID -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
		return 1
	fi
	log "installing $* with apt-get"
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		policy_rc_created=1
	fi
	local drop_in=/etc/postgresql-common/createcluster.d/fluxhook-test-services.conf
	if [[ ! -d ${drop_in%/*} ]]; then
		mkdir -p "${drop_in%/*}"
		createcluster_dir_created=${drop_in%/*}
	fi
	if [[ ! -e $drop_in ]]; then
		printf 'create_main_cluster = false\n' >"$drop_in"
		createcluster_created=$drop_in
	fi
	local apt_log ok=0
	apt_log=$(mktemp "$tmp_root/fluxhook-apt.XXXXXX")
	if DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$apt_log" 2>&1 &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			-o DPkg::Lock::Timeout=300 "$@" >>"$apt_log" 2>&1; then
		ok=1
	else
		tail -n 20 "$apt_log" >&2
	fi
	rm -f -- "$apt_log"
	undo_apt_setup
	[[ $ok -eq 1 ]]
}

# undo_apt_setup removes what apt_install put in place for the install.
undo_apt_setup() {
	if [[ $policy_rc_created -eq 1 ]]; then
		rm -f /usr/sbin/policy-rc.d
		policy_rc_created=0
	fi
	if [[ -n $createcluster_created ]]; then
		rm -f -- "$createcluster_created"
		createcluster_created=""
	fi
	if [[ -n $createcluster_dir_created ]]; then
		rmdir -- "$createcluster_dir_created" 2>/dev/null || true
		createcluster_dir_created=""
	fi
}

find_pg_bin() {
	local d
	# Debian keeps the server binaries out of PATH, one directory per
	# major version; take the newest.
	d=$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/initdb' 2>/dev/null |
		sort -V | tail -n 1)
	if [[ -n $d ]]; then
		dirname "$d"
		return 0
	fi
	# Elsewhere (Homebrew, other distributions) initdb is on PATH.
	if d=$(command -v initdb 2>/dev/null); then
		dirname "$d"
		return 0
	fi
	return 1
}

start_postgres() {
	if ! pg_bin=$(find_pg_bin); then
		apt_install postgresql || true
		pg_bin=$(find_pg_bin) ||
			die "PostgreSQL server binaries (initdb, pg_ctl) not found and could not be installed; install PostgreSQL (Debian: apt-get install postgresql) or set FLUXHOOK_TEST_POSTGRES_URL"
	fi
	local b
	for b in initdb pg_ctl postgres pg_isready; do
		[[ -x $pg_bin/$b ]] || die "$pg_bin/$b not found"
	done

	if [[ $EUID -eq 0 ]] && ! id -u postgres >/dev/null 2>&1; then
		useradd --system --user-group --home-dir /var/lib/postgresql \
			--shell /bin/bash --comment "PostgreSQL administrator" postgres
	fi

	pg_tmp=$(mktemp -d "$tmp_root/fluxhook-pg.XXXXXX")
	if [[ $EUID -eq 0 ]]; then
		chown postgres: "$pg_tmp"
		# The postgres user must be able to reach the directory; a
		# TMPDIR under /root is not reachable, so fall back to /tmp.
		if ! as_pg test -w "$pg_tmp"; then
			rm -rf -- "$pg_tmp"
			pg_tmp=$(mktemp -d /tmp/fluxhook-pg.XXXXXX)
			chown postgres: "$pg_tmp"
		fi
	fi
	pg_data=$pg_tmp/data

	# initdb and postgres complain when they cannot read the current
	# directory (e.g. /root when running as the postgres user).
	if ! (cd "$pg_tmp" && as_pg "$pg_bin/initdb" -D "$pg_data" -U postgres -A trust \
		-E UTF8 --locale=C --no-sync >"$pg_tmp/initdb.log" 2>&1); then
		cat "$pg_tmp/initdb.log" >&2
		die "initdb failed"
	fi
	cat >>"$pg_data/postgresql.conf" <<EOF

# throwaway test server (scripts/test-services.sh)
listen_addresses = '127.0.0.1'
unix_socket_directories = '$pg_tmp'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
EOF

	# The port is free when chosen but may be taken before postgres binds
	# it; try a few.
	local attempt port
	for ((attempt = 1; attempt <= 5; attempt++)); do
		port=$(free_port)
		if (cd "$pg_tmp" && as_pg "$pg_bin/pg_ctl" -D "$pg_data" -l "$pg_tmp/postgres.log" \
			-o "-p $port" -w -t 30 start >/dev/null 2>&1); then
			pg_started=1
			break
		fi
		# Stop whatever may have half-started before trying another port.
		as_pg "$pg_bin/pg_ctl" -D "$pg_data" -m immediate -w stop >/dev/null 2>&1 || true
		log "postgres did not start on port $port (attempt $attempt)"
	done
	if [[ $pg_started -ne 1 ]]; then
		tail -n 20 "$pg_tmp/postgres.log" >&2 || true
		die "could not start PostgreSQL"
	fi

	local i
	for ((i = 0; i < 60; i++)); do
		if "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres; then
			export FLUXHOOK_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
			echo "postgres: throwaway server on 127.0.0.1:$port" >&2
			return 0
		fi
		sleep 0.5
	done
	tail -n 20 "$pg_tmp/postgres.log" >&2 || true
	die "PostgreSQL on 127.0.0.1:$port not ready after 30s"
}

# redis_ping reports whether the Redis server on 127.0.0.1:$1 answers PONG.
redis_ping() {
	local port=$1 reply
	if command -v redis-cli >/dev/null 2>&1; then
		reply=$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null) || return 1
	else
		# No redis-cli (it comes with redis-tools): speak RESP ourselves.
		reply=$(
			exec 2>/dev/null
			exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
			printf 'PING\r\n' >&3
			IFS= read -r -t 2 line <&3 || exit 1
			printf '%s' "$line"
		) || return 1
	fi
	[[ $reply == *PONG* ]]
}

start_redis() {
	local redis_server
	if ! redis_server=$(command -v redis-server); then
		apt_install redis-server || true
		redis_server=$(command -v redis-server) ||
			die "redis-server not found and could not be installed; install Redis (Debian: apt-get install redis-server) or set FLUXHOOK_TEST_REDIS_URL"
	fi
	redis_tmp=$(mktemp -d "$tmp_root/fluxhook-redis.XXXXXX")

	local attempt port i
	for ((attempt = 1; attempt <= 5; attempt++)); do
		port=$(free_port)
		"$redis_server" --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
			--daemonize no --dir "$redis_tmp" --logfile "" \
			</dev/null >"$redis_tmp/redis.log" 2>&1 &
		redis_pid=$!
		for ((i = 0; i < 300; i++)); do
			if redis_ping "$port"; then
				export FLUXHOOK_TEST_REDIS_URL="redis://127.0.0.1:$port/0"
				echo "redis: throwaway server on 127.0.0.1:$port" >&2
				return 0
			fi
			kill -0 "$redis_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$redis_pid" 2>/dev/null || true
		wait "$redis_pid" 2>/dev/null || true
		redis_pid=""
		log "redis did not start on port $port (attempt $attempt)"
	done
	tail -n 20 "$redis_tmp/redis.log" >&2 || true
	die "could not start Redis"
}

if [[ -n ${FLUXHOOK_TEST_POSTGRES_URL:-} ]]; then
	echo "postgres: FLUXHOOK_TEST_POSTGRES_URL" >&2
else
	start_postgres
fi
if [[ -n ${FLUXHOOK_TEST_REDIS_URL:-} ]]; then
	echo "redis: FLUXHOOK_TEST_REDIS_URL" >&2
else
	start_redis
fi

# CMD runs in the foreground so that it keeps the terminal and its
# stdin; Ctrl-C reaches it and the servers, and the EXIT trap cleans up.
status=0
"$@" || status=$?
exit "$status"
