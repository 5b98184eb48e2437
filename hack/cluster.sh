#!/usr/bin/env bash
# A single-node Kubernetes for development and the e2e tests, like kind but
# without Docker: etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, containerd and kubelet run as background processes of this
# machine, and pods run in containerd with runc.
#
#   hack/cluster.sh up               # start (or reuse) it; last line: export KUBECONFIG=...
#   hack/cluster.sh load IMAGE.tar   # import an image archive into the node's containerd
#   hack/cluster.sh status           # say what runs
#   hack/cluster.sh down             # stop exactly what up started and remove what it made
#
# It needs root (containerd, mounts, a bridge) and Debian's containerd, runc
# and CNI plugins (installed when missing). kubelet, kube-controller-manager,
# kube-scheduler and kubectl are built from Go module sources into the
# per-user cache, as hack/envtest-assets.sh builds kube-apiserver and etcd.
#
# What it changes on the host, and undoes on `down`:
# - a bridge (sisporta0) holding 10.244.0.1/24, the pods' network, and
#   10.96.0.1/32, the `kubernetes` Service address. Pods get an address from
#   10.244.0.0/24 and a route to the Service range through 10.244.0.1, and
#   no default route: they reach each other and this machine, nothing else.
#   No forwarding, no NAT, no iptables rule: traffic to 10.96.0.1 is simply
#   local, so in-cluster clients (the operator) work unchanged.
# - forwarders (socat) from 10.244.0.1:3306 and :6379 to MariaDB and Redis on
#   127.0.0.1, and from 10.96.0.1:443 and 10.244.0.1:6443 (the `kubernetes`
#   Service and its endpoint) to kube-apiserver on 127.0.0.1:6443.
# - containerd and kubelet run in a private mount namespace: their overlay,
#   network-namespace and volume mounts never appear on the host, and the
#   host sysctls kubelet insists on (vm.overcommit_memory=1, kernel.panic=10,
#   kernel.panic_on_oops=1) are plain files bind-mounted over /proc/sys there,
#   so the host's values never change.
# - kubelet creates /kubepods in each cgroup hierarchy (the host's cgroup
#   mounts are never touched); `down` removes it.
# - host folders containerd and kubelet use whatever their configuration says
#   (/run/containerd, /var/lib/cni, /var/lib/kubelet, /var/log/containers...):
#   `up` notes which ones it created and `down` removes exactly those.
# Everything else lives in $SISPORTA_CLUSTER_DIR (default
# ~/.cache/sisporta/cluster/node), removed by `down`.
#
# Only loopback and the pods' own network namespaces are ever sent traffic:
# every component listens on 127.0.0.1, the API server reaches the kubelet by
# the node's name (which must resolve to 127.0.0.1), and the node's address
# is the bridge's.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-3.6.16}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_ROOT="${SISPORTA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sisporta}"
ASSETS="$CACHE_ROOT/envtest/k8s-$K8S_VERSION-etcd-$ETCD_VERSION"   # etcd, kube-apiserver, kube-controller-manager, kube-scheduler
NODE_BIN="$CACHE_ROOT/cluster/k8s-$K8S_VERSION"                   # kubelet, kubectl, pause image
STATE="${SISPORTA_CLUSTER_DIR:-$CACHE_ROOT/cluster/node}"
STAGING_VERSION="0.${K8S_VERSION#1.}"

BRIDGE=sisporta0
HOST_IP=10.244.0.1
POD_SUBNET=10.244.0.0/24
SERVICE_RANGE=10.96.0.0/16
SERVICE_IP=10.96.0.1
API_PORT=6443
ETCD_CLIENT_PORT=2379
ETCD_PEER_PORT=2380
# MariaDB and Redis, forwarded to pods at $HOST_IP on the same ports:
# MYSQL_HOST, MYSQL_PORT, REDIS_HOST, REDIS_PORT from SISPORTA_TEST_MYSQL_DSN
# and SISPORTA_TEST_REDIS_URL, as the tests read them.
source "$(dirname "${BASH_SOURCE[0]}")/services-addr.sh"
PAUSE_IMAGE="sisporta.local/pause:1"

PKI="$STATE/pki"
PIDS="$STATE/pids"
LOGS="$STATE/logs"
MNTNS="$STATE/mntns"
CONTAINERD_SOCK="$STATE/containerd/containerd.sock"
ADMIN_KUBECONFIG="$STATE/admin.kubeconfig"

# Host folders containerd 1.6 and kubelet use whatever the configuration says.
HOST_PATHS=(/run/containerd /run/netns /var/lib/cni /var/lib/kubelet /var/log/containers /var/log/pods
  /var/lib/containerd /opt/containerd /etc/cni /run/runc /etc/kubernetes)
# Host values that must be the same after `down` as before `up`.
WATCHED_SYSCTLS=(vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops
  kernel/keys/root_maxkeys kernel/keys/root_maxbytes net/ipv4/ip_forward net/ipv4/conf/all/forwarding)
# What kubelet's container manager writes unless the value is already so.
KUBELET_SYSCTLS=(vm/overcommit_memory=1 vm/panic_on_oom=0 kernel/panic=10 kernel/panic_on_oops=1
  kernel/keys/root_maxkeys=1000000 kernel/keys/root_maxbytes=25000000)
COMPONENTS=(forward-mysql forward-redis forward-api-service forward-api-endpoint etcd kube-apiserver
  kube-controller-manager kube-scheduler containerd kubelet)

log() { echo "cluster: $*" >&2; }
die() { log "$*"; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1fs", b-a}'; }

kubectl_() { "$NODE_BIN/kubectl" --kubeconfig "$ADMIN_KUBECONFIG" "$@"; }
in_ns() { nsenter --mount="$MNTNS" -- "$@"; }
ctr_() { in_ns ctr --address "$CONTAINERD_SOCK" --namespace k8s.io "$@"; }

# ---------------------------------------------------------------------------
# processes

pid_of() { [[ -f "$PIDS/$1" ]] && cat "$PIDS/$1" || true; }

# alive NAME: the process up started as NAME still runs (and is the same
# process: its start time is recorded beside the PID, against PID reuse).
alive() {
  local pid start
  pid=$(pid_of "$1")
  [[ -n "$pid" && -d /proc/$pid ]] || return 1
  start=$(cat "$PIDS/$1.start" 2>/dev/null || true)
  [[ "$(proc_start "$pid")" == "$start" ]] || return 1
  # A process that exited but is not reaped yet (its parent is init) is
  # not alive.
  [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]]
}

proc_start() { awk '{print $22}' "/proc/$1/stat" 2>/dev/null || true; }

# start NAME CMD...: runs CMD in its own session, output to logs/NAME.log.
start() {
  local name=$1; shift
  mkdir -p "$PIDS" "$LOGS"
  setsid "$@" </dev/null >>"$LOGS/$name.log" 2>&1 &
  local pid=$!
  echo "$pid" >"$PIDS/$name"
  # setsid execs (the background job is no group leader), so $! is the
  # process itself; its start time tells it from a later one with its PID.
  proc_start "$pid" >"$PIDS/$name.start"
}

# stop NAME [SECONDS [quiet]]: SIGTERM the process group up started as
# NAME, then SIGKILL what is left after SECONDS.
stop() {
  local name=$1 grace=${2:-10} pid
  alive "$name" || { rm -f "$PIDS/$name" "$PIDS/$name.start"; return 0; }
  pid=$(pid_of "$name")
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  local i
  for ((i = 0; i < grace * 10; i++)); do
    alive "$name" || break
    sleep 0.1
  done
  if alive "$name"; then
    [[ -n "${3:-}" ]] || log "$name (PID $pid) did not stop in ${grace}s: SIGKILL"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    sleep 0.2
  fi
  rm -f "$PIDS/$name" "$PIDS/$name.start"
}

# wait_for WHAT SECONDS COMMAND...: retries COMMAND every 0.2 s.
wait_for() {
  local what=$1 secs=$2; shift 2
  local deadline=$(($(date +%s) + secs))
  until "$@" >/dev/null 2>&1; do
    if (($(date +%s) >= deadline)); then
      log "$what: not ready after ${secs}s"
      return 1
    fi
    sleep 0.2
  done
}

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# ---------------------------------------------------------------------------
# prerequisites

need_root() {
  [[ $(id -u) == 0 ]] || die "must run as root: it starts containerd and kubelet, mounts, and creates a network bridge"
  [[ $(uname -s) == Linux ]] || die "needs Linux"
}

ensure_packages() {
  local missing=()
  command -v containerd >/dev/null || missing+=(containerd)
  command -v runc >/dev/null || missing+=(runc)
  [[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/loopback ]] || missing+=(containernetworking-plugins)
  command -v socat >/dev/null || missing+=(socat)
  command -v openssl >/dev/null || missing+=(openssl)
  command -v nsenter >/dev/null || missing+=(util-linux)
  command -v ip >/dev/null || missing+=(iproute2)
  ((${#missing[@]} == 0)) && return 0
  command -v apt-get >/dev/null || die "install ${missing[*]} (Debian package names) and run again"
  log "installing ${missing[*]} from Debian"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y --no-install-recommends "${missing[@]}" >"$CACHE_ROOT/apt.log" 2>&1; then
    apt-get update >>"$CACHE_ROOT/apt.log" 2>&1 || true
    apt-get install -y --no-install-recommends "${missing[@]}" >>"$CACHE_ROOT/apt.log" 2>&1 ||
      { tail -20 "$CACHE_ROOT/apt.log" >&2; die "could not install ${missing[*]}"; }
  fi
}

# node_module: a throwaway module requiring k8s.io/kubernetes, its staging
# modules replaced by their published versions (as hack/envtest-assets.sh).
node_module() {
  local dir="$CACHE_ROOT/build/cluster-kubernetes-$K8S_VERSION"
  if [[ ! -f "$dir/.ready" ]]; then
    log "preparing the build module for kubelet and kubectl v$K8S_VERSION"
    rm -rf "$dir"; mkdir -p "$dir"
    local gomod
    gomod=$(cd "$dir" && GOFLAGS= go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
    [[ -f "$gomod" ]] || die "could not download k8s.io/kubernetes v$K8S_VERSION's go.mod"
    {
      echo "module sisporta.local/clusterbuild"
      echo
      echo "go 1.26"
      echo
      echo "require k8s.io/kubernetes v$K8S_VERSION"
      echo
      echo "replace ("
      grep -E '^[[:space:]]*k8s\.io/[a-z0-9-]+ => \./staging/' "$gomod" |
        awk -v v="v$STAGING_VERSION" '{print "\t" $1 " => " $1 " " v}'
      echo ")"
    } >"$dir/go.mod"
    cat >"$dir/tools.go" <<'GO'
//go:build tools

package clusterbuild

import (
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
GO
    (cd "$dir" && GOFLAGS=-mod=mod go mod tidy -e >&2) || true
    touch "$dir/.ready"
  fi
  echo "$dir"
}

build_node_binary() {
  local bin=$1 dir
  [[ -x "$NODE_BIN/$bin" ]] && return 0
  dir=$(node_module)
  log "building $bin v$K8S_VERSION (first time: minutes; kubelet ~12 min on 2 cores with a cold Go build cache)"
  local minor="${K8S_VERSION#1.}" t0
  minor="${minor%%.*}"
  t0=$(now)
  mkdir -p "$NODE_BIN"
  (cd "$dir" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -o "$NODE_BIN/$bin.tmp" \
    -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=v$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor" \
    "k8s.io/kubernetes/cmd/$bin")
  mv "$NODE_BIN/$bin.tmp" "$NODE_BIN/$bin"
  log "built $bin in $(since "$t0")"
}

# The sandbox ("pause") image: nothing can be pulled, so it is built here
# from hack/cluster/pause by the same image writer as `make image`.
build_pause_image() {
  local tar="$NODE_BIN/pause-image.tar" src="$REPO/hack/cluster/pause/main.go"
  [[ -f "$tar" && "$tar" -nt "$src" ]] && return 0
  log "building the pause image $PAUSE_IMAGE"
  mkdir -p "$NODE_BIN"
  (cd "$REPO" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$NODE_BIN/pause" ./hack/cluster/pause)
  "$(image_writer)" -o "$tar.tmp" -tag "$PAUSE_IMAGE" -add "$NODE_BIN/pause:/pause" \
    -user 65535:65535 -entrypoint /pause >&2
  mv "$tar.tmp" "$tar"
}

image_writer() {
  local bin="$REPO/bin/imagebuild"
  if [[ ! -x "$bin" || -n "$(find "$REPO/hack/tools/cmd/imagebuild" "$REPO/hack/tools/go.mod" -newer "$bin" 2>/dev/null)" ]]; then
    (cd "$REPO/hack/tools" && go build -o "$bin" ./cmd/imagebuild) >&2
  fi
  echo "$bin"
}

ensure_binaries() {
  local t0
  t0=$(now)
  WITH_CONTROLLERS=1 K8S_VERSION=$K8S_VERSION ETCD_VERSION=$ETCD_VERSION "$REPO/hack/envtest-assets.sh" >/dev/null
  build_node_binary kubelet
  build_node_binary kubectl
  build_pause_image
  mkdir -p "$REPO/bin"
  ln -sfn "$NODE_BIN/kubectl" "$REPO/bin/kubectl"
  log "binaries ready ($(since "$t0"))"
}

# ---------------------------------------------------------------------------
# host checks and records

node_name() { hostname | tr '[:upper:]' '[:lower:]'; }

check_host() {
  local node addr
  node=$(node_name)
  addr=$(getent ahostsv4 "$node" | awk 'NR==1{print $1}')
  [[ "$addr" == 127.* ]] || die "the node name $node must resolve to a loopback address (it resolves to '${addr:-nothing}'): the API server reaches the kubelet by it; add '127.0.0.1 $node' to /etc/hosts"
  ip link show "$BRIDGE" >/dev/null 2>&1 && die "a network interface $BRIDGE exists already; remove it (ip link del $BRIDGE) or run hack/cluster.sh down"
  ip -4 addr show | grep -qE "inet ($HOST_IP|$SERVICE_IP)/" && die "$HOST_IP or $SERVICE_IP is already an address of this machine"
  if ip -4 route show | grep -qE "^10\.244\.0\.|^10\.96\."; then
    die "this machine already routes 10.244.0.0/24 or 10.96.0.0/16: $(ip -4 route show | grep -E '^10\.244\.0\.|^10\.96\.' | head -1)"
  fi
  local p
  for p in $API_PORT $ETCD_CLIENT_PORT $ETCD_PEER_PORT 10248 10250 10257 10259; do
    port_open 127.0.0.1 "$p" && die "port $p on 127.0.0.1 is taken; the cluster needs it"
  done
  port_open "$MYSQL_HOST" "$MYSQL_PORT" || log "warning: nothing listens on $MYSQL_HOST:$MYSQL_PORT (MariaDB): pods will not reach it (hack/services.sh starts it)"
  port_open "$REDIS_HOST" "$REDIS_PORT" || log "warning: nothing listens on $REDIS_HOST:$REDIS_PORT (Redis): pods will not reach it (hack/services.sh starts it)"
}

record_host() {
  local rec="$STATE/host"
  mkdir -p "$rec"
  : >"$rec/created-paths"
  local p
  for p in "${HOST_PATHS[@]}"; do
    [[ -e "$p" || -L "$p" ]] || echo "$p" >>"$rec/created-paths"
  done
  : >"$rec/created-cgroups"
  local hierarchies=(/sys/fs/cgroup/*/)
  # cgroup v2 alone: one hierarchy, mounted at /sys/fs/cgroup itself.
  [[ "$(stat -fc %T /sys/fs/cgroup)" == cgroup2fs ]] && hierarchies=(/sys/fs/cgroup/)
  for p in "${hierarchies[@]}"; do
    p=${p%/}
    [[ -d "$p/kubepods" ]] || echo "$p/kubepods" >>"$rec/created-cgroups"
  done
  sysctl_snapshot >"$rec/sysctls"
  cgroup_mounts >"$rec/cgroup-mounts"
}

sysctl_snapshot() {
  local s
  for s in "${WATCHED_SYSCTLS[@]}"; do
    echo "$s=$(cat "/proc/sys/$s" 2>/dev/null || echo absent)"
  done
}

cgroup_mounts() { awk '$9 ~ /^cgroup/ || $5 ~ /^\/sys\/fs\/cgroup/ {print $5, $9, $10, $6}' /proc/self/mountinfo | sort; }

# ---------------------------------------------------------------------------
# certificates and configuration

cert() { # cert NAME SUBJECT [SANS] [EKU]
  local name=$1 subj=$2 sans=${3:-} eku=${4:-clientAuth}
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/$name.key" 2>/dev/null
  openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    [[ -n "$sans" ]] && echo "subjectAltName=$sans"
  } >"$PKI/$name.ext"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 3650 -sha256 -extfile "$PKI/$name.ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}

kubeconfig() { # kubeconfig FILE CERTNAME
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: sisporta-local
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority: $PKI/ca.crt
users:
- name: $2
  user:
    client-certificate: $PKI/$2.crt
    client-key: $PKI/$2.key
contexts:
- name: sisporta-local
  context: {cluster: sisporta-local, user: $2}
current-context: sisporta-local
EOF
}

write_config() {
  local node=$1
  mkdir -p "$PKI"
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=sisporta-local-ca" -days 3650 -sha256 -out "$PKI/ca.crt" 2>/dev/null
  cert kube-apiserver "/CN=kube-apiserver" \
    "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,DNS:$node,IP:127.0.0.1,IP:$SERVICE_IP,IP:$HOST_IP" serverAuth
  cert admin "/O=system:masters/CN=sisporta-local-admin"
  cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
  cert kube-controller-manager "/CN=system:kube-controller-manager"
  cert kube-scheduler "/CN=system:kube-scheduler"
  cert kubelet "/O=system:nodes/CN=system:node:$node"
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/sa.key" 2>/dev/null
  openssl ec -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  chmod 600 "$PKI"/*.key

  kubeconfig "$ADMIN_KUBECONFIG" admin
  kubeconfig "$STATE/kube-controller-manager.kubeconfig" kube-controller-manager
  kubeconfig "$STATE/kube-scheduler.kubeconfig" kube-scheduler
  kubeconfig "$STATE/kubelet.kubeconfig" kubelet

  mkdir -p "$STATE/containerd" "$STATE/cni/net.d" "$STATE/kubelet" "$STATE/pod-logs" "$STATE/sysctl"
  cat >"$STATE/containerd/config.toml" <<EOF
version = 2
root = "$STATE/containerd/root"
state = "$STATE/containerd/state"
# kubelet sets oomScoreAdj 0 too: this machine withholds CAP_SYS_RESOURCE,
# and without these every sandbox fails ("can't get final child's PID from pipe").
oom_score = 0
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing"]

[grpc]
  address = "$CONTAINERD_SOCK"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$STATE/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni/net.d"
EOF

  cat >"$STATE/cni/net.d/10-sisporta.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "sisporta",
  "plugins": [{
    "type": "bridge",
    "bridge": "$BRIDGE",
    "isGateway": false,
    "ipMasq": false,
    "ipam": {
      "type": "host-local",
      "ranges": [[{"subnet": "$POD_SUBNET", "rangeStart": "10.244.0.10", "rangeEnd": "10.244.0.250"}]],
      "routes": [{"dst": "$SERVICE_RANGE", "gw": "$HOST_IP"}],
      "dataDir": "$STATE/cni/networks"
    }
  }]
}
EOF

  cat >"$STATE/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
# This machine has cgroup v1, which kubelet 1.37 refuses unless told.
cgroupDriver: cgroupfs
failCgroupV1: false
# CAP_SYS_RESOURCE is withheld here: no OOM score below the parent's.
oomScoreAdj: 0
failSwapOn: false
# kubelet must not add iptables chains and rules to the host.
makeIPTablesUtilChains: false
podLogsDir: $STATE/pod-logs
serializeImagePulls: false
# Images cannot be pulled again: never collect them, never evict for disk.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: "1%", nodefs.inodesFree: "1%", imagefs.available: "1%"}
resolvConf: /etc/resolv.conf
EOF

  # The values kubelet writes into /proc/sys, as plain files that are
  # bind-mounted over them inside the mount namespace.
  local kv
  for kv in "${KUBELET_SYSCTLS[@]}"; do
    echo "${kv#*=}" >"$STATE/sysctl/$(echo "${kv%%=*}" | tr / .)"
  done
}

# ---------------------------------------------------------------------------
# up

healthy() {
  local c
  for c in "${COMPONENTS[@]}"; do alive "$c" || return 1; done
  [[ -f "$ADMIN_KUBECONFIG" ]] && node_ready
}

node_ready() {
  [[ "$(kubectl_ get node "$(node_name)" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]
}

print_kubeconfig() {
  log "kubectl: $REPO/bin/kubectl (v$K8S_VERSION); logs: $LOGS"
  echo "export KUBECONFIG=$ADMIN_KUBECONFIG"
}

network_up() {
  # A fixed (locally administered) MAC: a bridge without one takes the
  # lowest MAC of its ports and changes it as pods come and go, and pods
  # that have the old one cached for 10.244.0.1 lose the API server and
  # the forwarders until their ARP entry expires (the operator lost its
  # lease after workers were deleted).
  ip link add "$BRIDGE" address 02:53:50:00:00:01 type bridge
  ip addr add "$HOST_IP/24" dev "$BRIDGE"
  # The `kubernetes` Service address is local to this machine: pods route
  # the Service range to 10.244.0.1 (see the CNI configuration), and the
  # packets to 10.96.0.1 are delivered here, to the forwarder below.
  ip addr add "$SERVICE_IP/32" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  start forward-mysql socat "TCP-LISTEN:$MYSQL_PORT,bind=$HOST_IP,fork,reuseaddr" "TCP:$MYSQL_HOST:$MYSQL_PORT"
  start forward-redis socat "TCP-LISTEN:$REDIS_PORT,bind=$HOST_IP,fork,reuseaddr" "TCP:$REDIS_HOST:$REDIS_PORT"
  start forward-api-service socat "TCP-LISTEN:443,bind=$SERVICE_IP,fork,reuseaddr" "TCP:127.0.0.1:$API_PORT"
  start forward-api-endpoint socat "TCP-LISTEN:$API_PORT,bind=$HOST_IP,fork,reuseaddr" "TCP:127.0.0.1:$API_PORT"
}

control_plane_up() {
  local node=$1
  start etcd "$ASSETS/etcd" --name sisporta-local --data-dir "$STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "sisporta-local=http://127.0.0.1:$ETCD_PEER_PORT" --unsafe-no-fsync --quota-backend-bytes 2147483648
  wait_for etcd 30 port_open 127.0.0.1 "$ETCD_CLIENT_PORT" || fail_component etcd

  start kube-apiserver "$ASSETS/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --bind-address 127.0.0.1 --secure-port "$API_PORT" --advertise-address "$HOST_IP" \
    --tls-cert-file "$PKI/kube-apiserver.crt" --tls-private-key-file "$PKI/kube-apiserver.key" \
    --client-ca-file "$PKI/ca.crt" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --service-cluster-ip-range "$SERVICE_RANGE" \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types Hostname \
    --profiling=false
  wait_for kube-apiserver 60 kubectl_ get --raw /readyz || fail_component kube-apiserver

  start kube-controller-manager "$ASSETS/kube-controller-manager" \
    --kubeconfig "$STATE/kube-controller-manager.kubeconfig" \
    --authentication-kubeconfig "$STATE/kube-controller-manager.kubeconfig" \
    --authorization-kubeconfig "$STATE/kube-controller-manager.kubeconfig" \
    --authentication-skip-lookup --bind-address 127.0.0.1 --leader-elect=false \
    --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
    --use-service-account-credentials --service-cluster-ip-range "$SERVICE_RANGE" --profiling=false
  start kube-scheduler "$ASSETS/kube-scheduler" \
    --kubeconfig "$STATE/kube-scheduler.kubeconfig" \
    --authentication-kubeconfig "$STATE/kube-scheduler.kubeconfig" \
    --authorization-kubeconfig "$STATE/kube-scheduler.kubeconfig" \
    --authentication-skip-lookup --bind-address 127.0.0.1 --leader-elect=false --profiling=false
}

node_up() {
  local node=$1
  # The private mount namespace of containerd and kubelet, kept by a bind
  # mount on $MNTNS (the host's / is not shared, so this stays here).
  touch "$MNTNS"
  unshare --mount="$MNTNS" --propagation private true
  local kv f
  for kv in "${KUBELET_SYSCTLS[@]}"; do
    f=${kv%%=*}
    if [[ "$(cat "/proc/sys/$f")" != "${kv#*=}" ]]; then
      in_ns mount --bind "$STATE/sysctl/$(echo "$f" | tr / .)" "/proc/sys/$f"
    fi
  done

  start containerd nsenter --mount="$MNTNS" -- containerd --config "$STATE/containerd/config.toml"
  wait_for containerd 30 ctr_ version || fail_component containerd
  ctr_ images import "$NODE_BIN/pause-image.tar" >/dev/null

  start kubelet nsenter --mount="$MNTNS" -- "$NODE_BIN/kubelet" \
    --config "$STATE/kubelet/config.yaml" --kubeconfig "$STATE/kubelet.kubeconfig" \
    --root-dir "$STATE/kubelet" --cert-dir "$STATE/kubelet/pki" --node-ip "$HOST_IP" --hostname-override "$node"
}

fail_component() {
  log "$1 failed to start; the end of $LOGS/$1.log:"
  tail -25 "$LOGS/$1.log" >&2 || true
  log "run hack/cluster.sh down to clean up"
  exit 1
}

cmd_up() {
  need_root
  mkdir -p "$CACHE_ROOT"
  if [[ -d "$STATE" ]]; then
    if healthy; then
      log "reusing the running cluster"
      print_kubeconfig
      return 0
    fi
    log "a cluster was started before but is not healthy: taking it down first"
    cmd_down
  fi
  local t0 node
  t0=$(now)
  ensure_packages
  ensure_binaries
  node=$(node_name)
  check_host
  mkdir -p "$STATE"
  trap 'rc=$?; ((rc == 0)) || log "up failed; the logs are in $LOGS; hack/cluster.sh down removes what was started"' EXIT
  record_host
  write_config "$node"
  local t1
  t1=$(now)
  network_up
  control_plane_up "$node"
  node_up "$node"
  wait_for "node $node Ready" 120 node_ready || fail_component kubelet
  log "node $node Ready $(since "$t1") after start"
  # Pods need their namespace's default ServiceAccount.
  wait_for "default ServiceAccount" 60 kubectl_ -n default get serviceaccount default || fail_component kube-controller-manager
  new_host_paths
  log "cluster up in $(since "$t0") ($(since "$t1") from start)"
  trap - EXIT
  print_kubeconfig
}

new_host_paths() {
  local p made=()
  while read -r p; do
    if [[ -e "$p" ]]; then made+=("$p"); fi
  done <"$STATE/host/created-paths"
  ((${#made[@]} == 0)) || log "created on the host (removed by down): ${made[*]}"
  return 0
}

# ---------------------------------------------------------------------------
# load

cmd_load() {
  need_root
  local tar=${1:-}
  [[ -n "$tar" && -f "$tar" ]] || die "usage: hack/cluster.sh load IMAGE.tar (an archive as written by make image)"
  alive containerd || die "the cluster is not running: hack/cluster.sh up"
  tar=$(cd "$(dirname "$tar")" && pwd)/$(basename "$tar")
  local t0
  t0=$(now)
  ctr_ images import "$tar" >&2
  log "imported $tar in $(since "$t0")"
}

# ---------------------------------------------------------------------------
# down

cmd_down() {
  need_root
  if [[ ! -d "$STATE" ]]; then
    log "no cluster (nothing in $STATE)"
    return 0
  fi
  local t0
  t0=$(now)
  # Nothing new gets scheduled or created from here on.
  stop kube-controller-manager
  stop kube-scheduler
  # Let kubelet stop the pods itself (it tears their networks down too).
  if alive kube-apiserver && alive kubelet && [[ -f "$ADMIN_KUBECONFIG" ]]; then
    timeout 20 "$NODE_BIN/kubectl" --kubeconfig "$ADMIN_KUBECONFIG" delete pods --all --all-namespaces \
      --force --grace-period=0 --wait=false >/dev/null 2>&1 || true
    wait_for "pods to stop" 30 no_running_tasks || true
  fi
  stop kubelet 15
  if alive containerd; then
    remove_tasks
  fi
  local shims pid
  shims=$(shim_pids)
  stop containerd 15
  for pid in $shims; do
    kill -KILL "$pid" 2>/dev/null || true
  done
  kill_pod_processes
  # It may wait up to a minute for requests in flight to drain; nothing it
  # holds outlives down.
  stop kube-apiserver 5 quiet
  stop etcd
  local f
  for f in forward-mysql forward-redis forward-api-service forward-api-endpoint; do stop "$f" 2; done

  # The mount namespace goes with its last process and this bind mount.
  for pid in $(ns_pids); do
    log "killing PID $pid, left in the cluster's mount namespace: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-80)"
    kill -KILL "$pid" 2>/dev/null || true
  done
  if grep -q " $MNTNS " /proc/self/mountinfo; then
    umount "$MNTNS" || umount -l "$MNTNS"
  fi
  if grep -q " $STATE[/ ]" /proc/self/mountinfo; then
    die "something is still mounted under $STATE on the host: $(grep " $STATE[/ ]" /proc/self/mountinfo | awk '{print $5}' | head -3 | tr '\n' ' '); unmount it and run down again"
  fi
  remove_cgroups
  ip link show "$BRIDGE" >/dev/null 2>&1 && ip link del "$BRIDGE"
  if [[ -f "$STATE/host/created-paths" ]]; then
    while read -r f; do
      [[ -n "$f" && ( -e "$f" || -L "$f" ) ]] && rm -rf -- "$f"
    done <"$STATE/host/created-paths"
  fi
  check_host_restored
  rm -rf -- "$STATE"
  log "down in $(since "$t0")"
}

# ns_pids: the processes in the cluster's mount namespace: containerd,
# kubelet and the containerd shims containerd started (containers have
# namespaces of their own, and cgroups under /kubepods).
ns_pids() {
  local ino p
  [[ -e "$MNTNS" ]] || return 0
  ino=$(stat -L -c %i "$MNTNS" 2>/dev/null) || return 0
  for p in /proc/[0-9]*; do
    [[ "$(readlink "$p/ns/mnt" 2>/dev/null)" == "mnt:[$ino]" ]] && echo "${p#/proc/}"
  done
  return 0
}

shim_pids() {
  local p
  for p in $(ns_pids); do
    [[ "$p" == "$(pid_of containerd)" || "$p" == "$(pid_of kubelet)" ]] || echo "$p"
  done
  return 0
}

no_running_tasks() { [[ -z "$(ctr_ tasks list -q 2>/dev/null)" ]]; }

remove_tasks() {
  local id
  for id in $(ctr_ tasks list -q 2>/dev/null); do
    ctr_ tasks kill --signal SIGKILL "$id" >/dev/null 2>&1 || true
  done
  for id in $(ctr_ tasks list -q 2>/dev/null); do
    timeout 10 nsenter --mount="$MNTNS" -- ctr --address "$CONTAINERD_SOCK" --namespace k8s.io tasks delete --force "$id" >/dev/null 2>&1 || true
  done
  for id in $(ctr_ containers list -q 2>/dev/null); do
    ctr_ containers delete "$id" >/dev/null 2>&1 || true
  done
}

# kill_pod_processes kills whatever still runs in the pods' cgroups.
kill_pod_processes() {
  local created h pids
  [[ -f "$STATE/host/created-cgroups" ]] || return 0
  for _ in 1 2 3 4 5; do
    pids=""
    while read -r created; do
      [[ -d "$created" ]] && pids+=" $(find "$created" -name cgroup.procs -exec cat {} + 2>/dev/null | tr '\n' ' ')"
    done <"$STATE/host/created-cgroups"
    pids=$(echo "$pids" | tr ' ' '\n' | sort -u | tr '\n' ' ')
    [[ -z "${pids// /}" ]] && return 0
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    sleep 0.3
  done
  log "warning: processes still in the pods' cgroups: $pids"
}

remove_cgroups() {
  local created
  [[ -f "$STATE/host/created-cgroups" ]] || return 0
  while read -r created; do
    [[ -d "$created" ]] || continue
    # Deepest first; a cgroup directory is removed with rmdir.
    find "$created" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    if [[ -d "$created" ]]; then log "warning: could not remove cgroup $created"; fi
  done <"$STATE/host/created-cgroups"
  return 0
}

check_host_restored() {
  local rec="$STATE/host" bad=0
  [[ -d "$rec" ]] || return 0
  if [[ "$(sysctl_snapshot)" != "$(cat "$rec/sysctls")" ]]; then
    log "warning: host sysctls differ from before up:"
    diff <(cat "$rec/sysctls") <(sysctl_snapshot) >&2 || true
    bad=1
  fi
  if [[ "$(cgroup_mounts)" != "$(cat "$rec/cgroup-mounts")" ]]; then
    log "warning: host cgroup mounts differ from before up:"
    diff <(cat "$rec/cgroup-mounts") <(cgroup_mounts) >&2 || true
    bad=1
  fi
  ((bad == 0)) && log "host sysctls and cgroup mounts are as they were"
  return 0
}

# ---------------------------------------------------------------------------

# session_rss_kib PID: resident memory of a component and what it started in
# its session (socat's connection children, kubelet's helpers).
session_rss_kib() { ps -o rss= --sid "$1" 2>/dev/null | awk '{s += $1} END {print s + 0}'; }

cmd_status() {
  if [[ ! -d "$STATE" ]]; then
    echo "no cluster"
    return 1
  fi
  local c rc=0 kib total=0
  for c in "${COMPONENTS[@]}"; do
    if alive "$c"; then
      kib=$(session_rss_kib "$(pid_of "$c")")
      total=$((total + kib))
      echo "$c: running (PID $(pid_of "$c"), $((kib / 1024)) MiB)"
    else
      echo "$c: not running"
      rc=1
    fi
  done
  local shims=0 shim_kib=0 pid
  for pid in $(shim_pids); do
    shims=$((shims + 1))
    shim_kib=$((shim_kib + $(awk '/^VmRSS:/{print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)))
  done
  total=$((total + shim_kib))
  echo "containerd shims: $shims ($((shim_kib / 1024)) MiB)"
  local cg=/sys/fs/cgroup/memory/kubepods pods_kib=0
  if [[ -f $cg/memory.stat ]]; then
    pods_kib=$(awk '$1 == "total_rss" {print int($2 / 1024)}' "$cg/memory.stat")
    echo "pods: $(find "$cg" -maxdepth 2 -type d -name 'pod*' | wc -l) (RSS $((pods_kib / 1024)) MiB; with page cache $(($(cat "$cg/memory.usage_in_bytes") / 1048576)) MiB)"
  elif [[ -f /sys/fs/cgroup/kubepods/memory.current ]]; then
    pods_kib=$(awk '$1 == "anon" {print int($2 / 1024)}' /sys/fs/cgroup/kubepods/memory.stat)
    echo "pods: RSS $((pods_kib / 1024)) MiB"
  fi
  total=$((total + pods_kib))
  echo "memory: $((total / 1024)) MiB resident (control plane, node, shims and pods)"
  if node_ready; then echo "node $(node_name): Ready"; else echo "node $(node_name): not Ready"; rc=1; fi
  echo "export KUBECONFIG=$ADMIN_KUBECONFIG"
  return $rc
}

case "${1:-}" in
up) cmd_up ;;
down) cmd_down ;;
load) shift; cmd_load "$@" ;;
status) cmd_status ;;
*)
  echo "usage: hack/cluster.sh up | down | load IMAGE.tar | status" >&2
  exit 2
  ;;
esac
