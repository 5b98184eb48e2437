#!/usr/bin/env bash
# Debian's percona-toolkit (pt-table-sync) and DBD::mysql for `make bench`,
# which times pt-table-sync as the reference for a re-sync.
#
# It fetches the .debs with `apt-get download` and unpacks them into a
# per-user cache (no package is installed; Debian's DBI, which DBD::mysql
# needs, is part of a MariaDB client installation). It prints two lines:
# the directory holding pt-table-sync, then the PERL5LIB it needs.
#
#   { read -r PT_BIN; read -r PT_PERL5LIB; } < <(hack/percona.sh)
#
# Idempotent: once unpacked it only checks that pt-table-sync starts.
set -euo pipefail

CACHE_ROOT="${SISPORTA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sisporta}"
CACHE="$CACHE_ROOT/percona"
PACKAGES=(percona-toolkit libdbd-mysql-perl)

say() { echo "percona: $*" >&2; }

perl5lib() {
  local d
  d=$(ls -d "$CACHE"/root/usr/lib/x86_64-linux-gnu/perl5/5.* 2>/dev/null | sort -V | tail -1)
  echo "${d:-}"
}

works() {
  [[ -x "$CACHE/root/usr/bin/pt-table-sync" ]] &&
    PERL5LIB="$(perl5lib)" "$CACHE/root/usr/bin/pt-table-sync" --version >/dev/null 2>&1 &&
    PERL5LIB="$(perl5lib)" perl -MDBD::mysql -e1 >/dev/null 2>&1
}

if ! works; then
  command -v apt-get >/dev/null || { say "apt-get is not available: install percona-toolkit and libdbd-mysql-perl yourself"; exit 1; }
  command -v perl >/dev/null || { say "perl is not installed"; exit 1; }
  perl -MDBI -e1 2>/dev/null || { say "Perl's DBI is missing: apt-get install libdbi-perl"; exit 1; }
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  if ! (cd "$tmp" && apt-get download "${PACKAGES[@]}" >/dev/null 2>&1); then
    if [[ $(id -u) == 0 ]]; then
      say "apt knows no ${PACKAGES[*]}: running apt-get update"
      apt-get update -qq >/dev/null
      (cd "$tmp" && apt-get download "${PACKAGES[@]}" >/dev/null 2>&1)
    else
      say "apt-get download ${PACKAGES[*]} failed: run apt-get update as root, or install them"
      exit 1
    fi
  fi
  rm -rf "$CACHE"
  mkdir -p "$CACHE/root"
  for deb in "$tmp"/*.deb; do dpkg -x "$deb" "$CACHE/root"; done
  works || { say "pt-table-sync does not start from $CACHE"; exit 1; }
fi
echo "$CACHE/root/usr/bin"
perl5lib
