#!/usr/bin/env bash
# Debian's prometheus package (the prometheus server and promtool) for the
# monitoring tests: the alert rule tests (promtool test rules), the metrics
# lint (promtool check metrics) and the dashboard and alert queries run
# against a real Prometheus (test/deploy/monitoring_*_test.go).
#
# It fetches the .deb with `apt-get download` and unpacks it into a per-user
# cache; it does not install the package, so no prometheus service is enabled
# or started on the machine (the tests start their own, on 127.0.0.1 only).
# It prints the directory holding prometheus and promtool on its last line.
# Idempotent: once unpacked, it only checks the binaries are there. A
# prometheus package already installed (of the pinned version) is used as it
# is, and so is PROMETHEUS_BIN_DIR, a directory holding both binaries.
#
#   PROMTOOL=$(hack/prometheus.sh | tail -1)/promtool
#
# The version is pinned to what Debian 12 (bookworm) ships, 2.42.0 (any
# Debian revision of it: bookworm's security updates keep the upstream
# version). Another version fails with what to do; PROMETHEUS_VERSION
# overrides the pin once the tests are known to pass with it.
set -euo pipefail

PROMETHEUS_VERSION="${PROMETHEUS_VERSION:-2.42.0}"
CACHE_ROOT="${SISPORTA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sisporta}"
CACHE="$CACHE_ROOT/prometheus"

say() { echo "prometheus: $*" >&2; }

# usable DIR: DIR holds both binaries, of the pinned upstream version.
usable() {
  [[ -x "$1/prometheus" && -x "$1/promtool" ]] || return 1
  local v
  v=$("$1/promtool" --version 2>&1 | head -1) || return 1
  [[ "$v" == "promtool, version $PROMETHEUS_VERSION"* ]]
}

# Named by the caller.
if [[ -n "${PROMETHEUS_BIN_DIR:-}" ]]; then
  if usable "$PROMETHEUS_BIN_DIR"; then
    echo "$PROMETHEUS_BIN_DIR"
    exit 0
  fi
  say "PROMETHEUS_BIN_DIR=$PROMETHEUS_BIN_DIR does not hold prometheus and promtool $PROMETHEUS_VERSION"
  exit 1
fi

# Already unpacked (any Debian revision of the pinned version).
for dir in $(ls -d "$CACHE/$PROMETHEUS_VERSION"+*/usr/bin 2>/dev/null | sort -rV); do
  if usable "$dir"; then
    echo "$dir"
    exit 0
  fi
done

# Installed on the machine (apt-get install prometheus on Debian 12).
if sys=$(command -v promtool) && usable "$(dirname "$sys")"; then
  dirname "$sys"
  exit 0
fi

if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
  say "apt-get is not available, so Debian's prometheus $PROMETHEUS_VERSION cannot be fetched."
  say "Install Prometheus $PROMETHEUS_VERSION's prometheus and promtool side by side on the PATH, or put them in"
  say "$CACHE/$PROMETHEUS_VERSION+manual/usr/bin (https://github.com/prometheus/prometheus/releases/tag/v$PROMETHEUS_VERSION), and run this again."
  exit 1
fi

candidate() { apt-cache policy prometheus 2>/dev/null | awk '/Candidate:/ {print $2}'; }

cand=$(candidate)
if [[ -z "$cand" || "$cand" == "(none)" ]]; then
  if [[ $(id -u) == 0 ]]; then
    say "no prometheus package in apt's lists: running apt-get update"
    apt-get update -qq >&2 || { say "apt-get update failed: check /etc/apt/sources.list reaches a Debian mirror"; exit 1; }
    cand=$(candidate)
  else
    say "apt knows no prometheus package: run 'sudo apt-get update' (Debian 12 has prometheus $PROMETHEUS_VERSION) and run this again"
    exit 1
  fi
fi
if [[ -z "$cand" || "$cand" == "(none)" ]]; then
  say "apt offers no prometheus package: the tests need Debian 12's (bookworm main), prometheus $PROMETHEUS_VERSION"
  exit 1
fi
if [[ "$cand" != "$PROMETHEUS_VERSION"+* ]]; then
  say "apt offers prometheus $cand; the tests are pinned to Debian 12's $PROMETHEUS_VERSION."
  say "Run them on Debian 12, or check them with this version and set PROMETHEUS_VERSION=${cand%%+*} (and update the pin in hack/prometheus.sh)."
  exit 1
fi

dest="$CACHE/$cand"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
say "fetching Debian's prometheus $cand with apt-get download (not installed: nothing is started)"
# Root would otherwise hand the download to the _apt user, who cannot write
# into a private temporary directory.
(cd "$tmp" && apt-get download -q -o APT::Sandbox::User="$(id -un)" "prometheus=$cand" >&2)
deb=$(ls "$tmp"/prometheus_*.deb)
mkdir -p "$tmp/root"
dpkg-deb -x "$deb" "$tmp/root"
mkdir -p "$dest/usr/bin"
install -m 0755 "$tmp/root/usr/bin/prometheus" "$tmp/root/usr/bin/promtool" "$dest/usr/bin/"
if ! usable "$dest/usr/bin"; then
  say "the unpacked promtool is not version $PROMETHEUS_VERSION: $("$dest/usr/bin/promtool" --version 2>&1 | head -1)"
  exit 1
fi
"$dest/usr/bin/promtool" --version 2>&1 | head -1 >&2
echo "$dest/usr/bin"
