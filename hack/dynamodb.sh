#!/usr/bin/env bash
# DynamoDB Local, AWS's own DynamoDB-API server (Java), for the DynamoDB store's tests. In
# memory, bound to 127.0.0.1 (hack/dynamodb/Loopback.java), telemetry off, stopped by PID.
# It comes from the npm registry, in the amplify-dynamodb-simulator package (the package's
# tarball only, pinned by its integrity; none of its Node.js code runs). It implements what
# dynalite, used before, lacks: TransactWriteItems, and AWS's own validation of requests.
# Also installs hack/node (asl-validator, aws-local-stepfunctions) with npm ci.
#
#   hack/dynamodb.sh up|down|env
#
# Settings: AOS_CACHE_DIR (default <repo>/.cache), AOS_CLUSTER_PORT_BASE (default 26000,
# below the ephemeral port range: hack/cluster.sh says why; DynamoDB Local listens on
# base+800).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${AOS_CACHE_DIR:-$repo/.cache}
dir=$cache/dynamodb
port=$(( ${AOS_CLUSTER_PORT_BASE:-26000} + 800 ))
node_dir=$repo/hack/node

pkg=amplify-dynamodb-simulator@2.9.30 # DynamoDB Local 1.25.1
integrity=sha512-xTeeRLvzEfqyd5lh3bH4c0kHvSHHmmhD5ZDsHFKAQ5g2Zl6JqlFdutaQhCLHzxEp6Ry1o7TB6niIoXuQAnSewQ==
emu=$dir/$pkg/emulator

say() { printf '[dynamodb] %s\n' "$*" >&2; }
die() { printf '[dynamodb] ERROR: %s\n' "$*" >&2; exit 1; }

install_node() {
	if [ -x "$node_dir/node_modules/.bin/asl-validator" ] && [ "$node_dir/node_modules/.package-lock.json" -nt "$node_dir/package-lock.json" ]; then
		return 0
	fi
	command -v npm >/dev/null || die "npm is required (Node.js 18 or newer): apt-get install -y nodejs npm"
	say "installing asl-validator and aws-local-stepfunctions from npm (hack/node/package-lock.json)..."
	(cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error) >&2 || die "npm ci in hack/node failed: is the npm registry reachable?"
}

install_java() {
	command -v javac >/dev/null && return 0
	[ "$(id -u)" = 0 ] || die "a JDK is required (DynamoDB Local is Java): run 'apt-get install openjdk-17-jdk-headless' as root"
	say "installing Debian's openjdk-17-jdk-headless (once)"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	apt-get install -y -qq --no-install-recommends openjdk-17-jdk-headless >/dev/null || die "apt-get install openjdk-17-jdk-headless failed"
}

install_local() {
	[ -f "$emu/DynamoDBLocal.jar" ] || fetch_local
	[ "$dir/classes/Loopback.class" -nt "$repo/hack/dynamodb/Loopback.java" ] && return 0
	mkdir -p "$dir/classes"
	javac -d "$dir/classes" -cp "$emu/DynamoDBLocal.jar:$emu/DynamoDBLocal_lib/*" "$repo/hack/dynamodb/Loopback.java" ||
		die "compiling hack/dynamodb/Loopback.java failed"
}

fetch_local() {
	command -v npm >/dev/null || die "npm is required to fetch DynamoDB Local: apt-get install -y nodejs npm"
	say "fetching DynamoDB Local ($pkg) from the npm registry (once, 56 MB)..."
	local tmp
	tmp=$(mktemp -d "$cache/dynamodb-fetch.XXXXXX")
	(cd "$tmp" && npm pack --silent "$pkg" >/dev/null 2>&1) || { rm -rf "$tmp"; die "npm pack $pkg failed: is the npm registry reachable?"; }
	local tgz got want
	tgz=$(ls "$tmp"/*.tgz)
	got=$(sha512sum "$tgz" | cut -d' ' -f1)
	want=$(printf '%s' "${integrity#sha512-}" | base64 -d | od -An -v -tx1 | tr -d ' \n')
	[ "$got" = "$want" ] || { rm -rf "$tmp"; die "$pkg: sha512 $got, want $want (the registry's integrity $integrity)"; }
	rm -rf "$dir/$pkg" && mkdir -p "$dir/$pkg"
	tar -xzf "$tgz" -C "$dir/$pkg" --strip-components=1 package/emulator
	rm -rf "$tmp"
}

# A live process of that PID that is this server: PIDs are reused.
alive() {
	[ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null &&
		tr '\0' ' ' <"/proc/$(cat "$dir/pid")/cmdline" 2>/dev/null | grep -q "Loopback .*-port $port"
}

up() {
	mkdir -p "$dir"
	install_node
	install_java
	install_local
	if alive; then env_line; return 0; fi
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		die "port 127.0.0.1:$port is in use by another program; set AOS_CLUSTER_PORT_BASE to move it"
	fi
	# -sharedDb: one database whatever the credentials and region of a client.
	DDB_LOCAL_TELEMETRY=0 setsid java -Xmx768m -XX:+UseSerialGC -Djava.library.path="$emu/DynamoDBLocal_lib" \
		-cp "$dir/classes:$emu/DynamoDBLocal.jar:$emu/DynamoDBLocal_lib/*" Loopback \
		-inMemory -sharedDb -disableTelemetry -port "$port" >"$dir/dynamodb.log" 2>&1 </dev/null &
	echo $! >"$dir/pid"
	for _ in $(seq 1 300); do
		if curl -s -o /dev/null "http://127.0.0.1:$port/"; then
			say "DynamoDB Local listening on http://127.0.0.1:$port"
			env_line
			return 0
		fi
		alive || break
		sleep 0.1
	done
	tail -n 20 "$dir/dynamodb.log" >&2 || true
	down
	die "DynamoDB Local did not start (log: $dir/dynamodb.log)"
}

# down waits for the JVM to exit, so that the port is free for the next up.
down() {
	if alive; then
		local pid
		pid=$(cat "$dir/pid")
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
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
