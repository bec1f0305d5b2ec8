#!/usr/bin/env bash
# dynalite, a real DynamoDB-API server from npm, for the DynamoDB store's tests. In-memory,
# bound to 127.0.0.1, stopped by PID.
#
#   hack/dynalite.sh up|down|env
#
# Settings: AOS_CACHE_DIR (default <repo>/.cache), AOS_CLUSTER_PORT_BASE (default 36000;
# dynalite listens on base+800).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${AOS_CACHE_DIR:-$repo/.cache}
dir=$cache/dynalite
port=$(( ${AOS_CLUSTER_PORT_BASE:-36000} + 800 ))
node_dir=$repo/hack/node

say() { printf '[dynalite] %s\n' "$*" >&2; }
die() { printf '[dynalite] ERROR: %s\n' "$*" >&2; exit 1; }

install() {
	if [ -x "$node_dir/node_modules/.bin/dynalite" ] && [ "$node_dir/node_modules/.package-lock.json" -nt "$node_dir/package-lock.json" ]; then
		return 0
	fi
	command -v npm >/dev/null || die "npm is required (Node.js 18 or newer): apt-get install -y nodejs npm"
	say "installing dynalite, asl-validator and aws-local-stepfunctions from npm (hack/node/package-lock.json)..."
	(cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error) >&2 || die "npm ci in hack/node failed: is the npm registry reachable?"
}

alive() { [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; }

up() {
	install
	mkdir -p "$dir"
	if alive; then env_line; return 0; fi
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		die "port 127.0.0.1:$port is in use by another program; set AOS_CLUSTER_PORT_BASE to move it"
	fi
	setsid "$node_dir/node_modules/.bin/dynalite" --host 127.0.0.1 --port "$port" >"$dir/dynalite.log" 2>&1 </dev/null &
	echo $! >"$dir/pid"
	for _ in $(seq 1 100); do
		if curl -s -o /dev/null "http://127.0.0.1:$port/"; then
			say "listening on http://127.0.0.1:$port"
			env_line
			return 0
		fi
		alive || break
		sleep 0.1
	done
	tail -n 20 "$dir/dynalite.log" >&2 || true
	die "dynalite did not start (log: $dir/dynalite.log)"
}

down() {
	if alive; then
		kill -TERM "$(cat "$dir/pid")" 2>/dev/null || true
		say "stopped"
	fi
	rm -f "$dir/pid"
}

env_line() { echo "export AOS_TEST_DYNAMODB_ENDPOINT=http://127.0.0.1:$port"; }

case ${1:-} in
up) up ;;
down) down ;;
env) env_line ;;
*) die "usage: $0 up|down|env" ;;
esac
