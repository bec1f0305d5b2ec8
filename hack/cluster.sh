#!/usr/bin/env bash
# The local Kubernetes control plane for tests, benchmarks and `make run`:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok (simulated nodes),
# all built from the Go module proxy, cached by version, bound to 127.0.0.1 and stopped by PID.
#
#   hack/cluster.sh build   build (or reuse) the binaries
#   hack/cluster.sh up      build if needed, start, wait until a node is Ready
#   hack/cluster.sh down    stop every process it started
#   hack/cluster.sh env     print `export KUBECONFIG=...`
#   hack/cluster.sh status  say what is running
#
# Settings (environment): AOS_CACHE_DIR (default <repo>/.cache), AOS_CLUSTER_PORT_BASE
# (default 26000; the cluster uses base+379, +380, +443, +257, +259, +247). The default
# keeps every port below Linux's ephemeral range (32768-60999 here): a port in it can be
# the local end of any outgoing connection. With 36000, DynamoDB Local once failed to bind
# base+800 ("Address already in use") while nothing listened there, most likely held by
# one of the control plane's own connections to the API server.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${AOS_CACHE_DIR:-$repo/.cache}
state=$cache/cluster
pki=$state/pki
logs=$state/logs
pids=$state/pids
kubeconfig=$state/kubeconfig

base=${AOS_CLUSTER_PORT_BASE:-26000}
etcd_port=$((base + 379))
etcd_peer_port=$((base + 380))
api_port=$((base + 443))
kcm_port=$((base + 257))
sched_port=$((base + 259))
kwok_port=$((base + 247))
service_cidr=10.96.0.0/16
service_ip=10.96.0.1

say() { printf '[cluster] %s\n' "$*" >&2; }
die() { printf '[cluster] ERROR: %s\n' "$*" >&2; exit 1; }

need() {
	command -v "$1" >/dev/null 2>&1 || die "'$1' is required but not on PATH. $2"
}

# Versions come from the tools modules so that one line in a go.mod is the only place to change.
modversion() { # <tools dir> <module path>
	awk -v m="$2" '$1 == m && $2 ~ /^v/ {print $2; exit} $1 == "require" && $2 == m {print $3; exit}' "$repo/hack/tools/$1/go.mod"
}
k8s_version=$(modversion k8s k8s.io/kubernetes)
etcd_version=$(modversion etcd go.etcd.io/etcd/server/v3)
kwok_version=$(modversion kwok sigs.k8s.io/kwok)
k8s_bin=$cache/bin/kubernetes-$k8s_version
etcd_bin=$cache/bin/etcd-$etcd_version
kwok_bin=$cache/bin/kwok-$kwok_version
helm_version=$(modversion helm helm.sh/helm/v4)
helm_bin=$cache/bin/helm-$helm_version
kro_version=$(modversion kro github.com/kubernetes-sigs/kro)
kro_bin=$cache/bin/kro-$kro_version

# build_one <tools dir> <output dir> <binary name> <package>
build_one() {
	local dir=$1 out=$2 name=$3 pkg=$4
	if [ -x "$out/$name" ]; then return 0; fi
	need go "Install Go 1.26 or newer from https://go.dev/dl/ and put it on PATH."
	mkdir -p "$out" "$logs"
	say "building $name from $pkg (first time only; several minutes on 2 cores)..."
	local start=$SECONDS
	if ! (cd "$repo/hack/tools/$dir" && go build -o "$out/$name.tmp" "$pkg") >"$logs/build-$name.log" 2>&1; then
		tail -n 30 "$logs/build-$name.log" >&2
		die "building $name failed (log: $logs/build-$name.log). It is built from the Go module proxy: check that 'go env GOPROXY' is reachable and that hack/tools/$dir/go.mod resolves ('cd hack/tools/$dir && go mod download')."
	fi
	mv "$out/$name.tmp" "$out/$name"
	say "built $name in $((SECONDS - start))s -> $out/$name"
}

cmd_build() {
	build_one etcd "$etcd_bin" etcd .
	build_one kwok "$kwok_bin" kwok sigs.k8s.io/kwok/cmd/kwok
	local c
	for c in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
		build_one k8s "$k8s_bin" "$c" "k8s.io/kubernetes/cmd/$c"
	done
}

gen_pki() {
	[ -f "$pki/admin.crt" ] && return 0
	need openssl "Install it with 'apt-get install -y openssl'."
	say "generating certificates and the service-account key in $pki"
	mkdir -p "$pki"
	(
		cd "$pki"
		openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 -subj "/CN=aos-local-ca" 2>/dev/null
		cat >apiserver.ext <<-EOF
			subjectAltName=IP:127.0.0.1,IP:$service_ip,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
			extendedKeyUsage=serverAuth
		EOF
		openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr -subj "/CN=kube-apiserver" 2>/dev/null
		openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out apiserver.crt -days 3650 -extfile apiserver.ext 2>/dev/null
		printf 'extendedKeyUsage=clientAuth\n' >client.ext
		openssl req -newkey rsa:2048 -nodes -keyout admin.key -out admin.csr -subj "/O=system:masters/CN=aos-admin" 2>/dev/null
		openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out admin.crt -days 3650 -extfile client.ext 2>/dev/null
		openssl genrsa -out sa.key 2048 2>/dev/null
		openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
		rm -f ./*.csr ./*.ext
	)
}

write_kubeconfig() {
	local b64="base64 -w0"
	cat >"$kubeconfig.tmp" <<-EOF
		apiVersion: v1
		kind: Config
		clusters:
		- name: aos-local
		  cluster:
		    server: https://127.0.0.1:$api_port
		    certificate-authority-data: $($b64 <"$pki/ca.crt")
		users:
		- name: aos-admin
		  user:
		    client-certificate-data: $($b64 <"$pki/admin.crt")
		    client-key-data: $($b64 <"$pki/admin.key")
		contexts:
		- name: aos-local
		  context: {cluster: aos-local, user: aos-admin}
		current-context: aos-local
	EOF
	mv "$kubeconfig.tmp" "$kubeconfig"
}

alive() { [ -f "$pids/$1" ] && kill -0 "$(cat "$pids/$1")" 2>/dev/null; }

port_free() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# start <name> <binary> <args...>: runs in its own session so that `down` can stop it by PID.
start() {
	local name=$1
	shift
	if alive "$name"; then return 0; fi
	mkdir -p "$pids" "$logs"
	setsid "$@" >"$logs/$name.log" 2>&1 </dev/null &
	echo $! >"$pids/$name"
}

fail_start() { # <name> <message>
	say "last lines of $logs/$1.log:"
	tail -n 25 "$logs/$1.log" >&2 || true
	cmd_down >/dev/null 2>&1 || true
	die "$2"
}

wait_for() { # <name> <seconds> <command...>
	local name=$1 limit=$2
	shift 2
	local deadline=$((SECONDS + limit))
	until "$@" >/dev/null 2>&1; do
		alive "$name" || fail_start "$name" "$name exited during startup."
		[ $SECONDS -lt $deadline ] || fail_start "$name" "$name was not ready after ${limit}s."
		sleep 0.2
	done
}

kctl() { "$k8s_bin/kubectl" --kubeconfig "$kubeconfig" "$@"; }

cmd_up() {
	if alive kube-apiserver && kctl get --raw /readyz >/dev/null 2>&1; then
		say "already running at https://127.0.0.1:$api_port"
		cmd_env
		return 0
	fi
	cmd_down >/dev/null 2>&1 || true
	cmd_build
	local p
	for p in $etcd_port $etcd_peer_port $api_port $kcm_port $sched_port $kwok_port; do
		port_free "$p" || die "port 127.0.0.1:$p is already in use by another program. Pick another range with AOS_CLUSTER_PORT_BASE=<port> (now $base)."
	done
	gen_pki
	write_kubeconfig
	local t0=$SECONDS

	rm -rf "$state/etcd-data"
	# --unsafe-no-fsync: this etcd holds throwaway test state; fsync would dominate apply latency.
	start etcd "$etcd_bin/etcd" --name aos --data-dir "$state/etcd-data" \
		--listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
		--listen-peer-urls "http://127.0.0.1:$etcd_peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
		--initial-cluster "aos=http://127.0.0.1:$etcd_peer_port" --unsafe-no-fsync --log-level warn
	wait_for etcd 30 curl -sf "http://127.0.0.1:$etcd_port/health"

	# --endpoint-reconciler-type none: kube-apiserver 1.37 refuses a loopback advertise address
	# for the "kubernetes" Service endpoints, and nothing here runs in-cluster clients.
	start kube-apiserver "$k8s_bin/kube-apiserver" \
		--etcd-servers "http://127.0.0.1:$etcd_port" \
		--bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
		--cert-dir "$state/apiserver-certs" \
		--tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
		--client-ca-file "$pki/ca.crt" --authorization-mode RBAC \
		--service-account-issuer https://kubernetes.default.svc.cluster.local \
		--service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
		--service-cluster-ip-range "$service_cidr" --allow-privileged=true --profiling=false \
		--endpoint-reconciler-type none
	wait_for kube-apiserver 60 kctl get --raw /readyz

	local kc=(--kubeconfig "$kubeconfig" --authentication-kubeconfig "$kubeconfig" --authorization-kubeconfig "$kubeconfig")
	start kube-controller-manager "$k8s_bin/kube-controller-manager" "${kc[@]}" \
		--bind-address 127.0.0.1 --secure-port "$kcm_port" --leader-elect=false \
		--service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
		--cluster-signing-cert-file "$pki/ca.crt" --cluster-signing-key-file "$pki/ca.key" \
		--use-service-account-credentials=false --controllers '*' --profiling=false \
		--kube-api-qps 300 --kube-api-burst 500 --concurrent-deployment-syncs 20 --concurrent-replicaset-syncs 20
	start kube-scheduler "$k8s_bin/kube-scheduler" "${kc[@]}" \
		--bind-address 127.0.0.1 --secure-port "$sched_port" --leader-elect=false --profiling=false \
		--kube-api-qps 300 --kube-api-burst 500
	# The node's address and port are kwok's own server on loopback, so the API server reaches
	# it for pods/log as it would a kubelet; Logs objects (the CRD) say what each pod logs.
	kctl apply -f "$repo/hack/kwok-logs-crd.yaml" >/dev/null
	start kwok "$kwok_bin/kwok" --kubeconfig "$kubeconfig" --config "$repo/hack/kwok.yaml" \
		--manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
		--server-address "127.0.0.1:$kwok_port" --cidr 10.244.0.0/16 --node-ip 127.0.0.1 --node-port "$kwok_port" \
		--enable-crds Logs --node-lease-duration-seconds 40

	wait_for kube-controller-manager 60 curl -sfk "https://127.0.0.1:$kcm_port/healthz"
	wait_for kube-scheduler 60 curl -sfk "https://127.0.0.1:$sched_port/healthz"
	kctl apply -f "$repo/hack/kwok-node.yaml" >/dev/null
	wait_for kwok 60 kctl wait --for=condition=Ready node/kwok-node-0 --timeout=1s
	# Pods need the namespace's default ServiceAccount, which the controller manager creates.
	wait_for kube-controller-manager 60 kctl get serviceaccount default -n default
	say "ready in $((SECONDS - t0))s: https://127.0.0.1:$api_port (kubernetes $k8s_version, etcd $etcd_version, kwok $kwok_version)"
	cmd_env
}

cmd_down() {
	local name pid stopped=0
	for name in kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
		[ -f "$pids/$name" ] || continue
		pid=$(cat "$pids/$name")
		if kill -0 "$pid" 2>/dev/null; then
			kill -TERM "$pid" 2>/dev/null || true
			local i
			for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
			kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
			stopped=$((stopped + 1))
		fi
		rm -f "$pids/$name"
	done
	rm -rf "$state/etcd-data"
	say "stopped $stopped process(es)"
}

cmd_env() { echo "export KUBECONFIG=$kubeconfig"; }

# The peers make bench compares AOS with: kubectl from the same Kubernetes module as the
# control plane, helm v4, and kro's controller with its CRDs. Printed as shell assignments.
cmd_peers() {
	build_one k8s "$k8s_bin" kubectl k8s.io/kubernetes/cmd/kubectl
	build_one helm "$helm_bin" helm helm.sh/helm/v4/cmd/helm
	build_one kro "$kro_bin" kro github.com/kubernetes-sigs/kro/cmd/controller
	local crds
	crds=$(cd "$repo/hack/tools/kro" && go list -m -f '{{.Dir}}' github.com/kubernetes-sigs/kro)/helm/crds
	[ -d "$crds" ] || die "kro's CRDs are not at $crds: 'cd hack/tools/kro && go mod download' fetches its module"
	echo "KUBECTL=$k8s_bin/kubectl"
	echo "HELM=$helm_bin/helm"
	echo "KRO=$kro_bin/kro"
	echo "KRO_CRDS=$crds"
}

cmd_status() {
	local name
	for name in etcd kube-apiserver kube-controller-manager kube-scheduler kwok; do
		if alive "$name"; then echo "$name running (pid $(cat "$pids/$name"))"; else echo "$name stopped"; fi
	done
}

case ${1:-} in
build) cmd_build ;;
up) cmd_up ;;
down) cmd_down ;;
env) cmd_env ;;
status) cmd_status ;;
peers) cmd_peers ;;
*) die "usage: $0 build|up|down|env|status|peers" ;;
esac
