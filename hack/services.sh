#!/usr/bin/env bash
# Makes sure the services the integration tests and the demo use are up:
# MariaDB (or MySQL) on 127.0.0.1:3306 with root and an empty password, and
# Redis on 127.0.0.1:6379. Starts them when installed but stopped; says what
# to install when they are missing. Safe to run again and again.
set -euo pipefail

# MYSQL_HOST, MYSQL_PORT, REDIS_HOST, REDIS_PORT from SISPORTA_TEST_MYSQL_DSN
# and SISPORTA_TEST_REDIS_URL, as the tests read them.
source "$(dirname "${BASH_SOURCE[0]}")/services-addr.sh"

say() { echo "services: $*" >&2; }

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

wait_port() {
  local host=$1 port=$2 what=$3
  for _ in $(seq 1 60); do
    port_open "$host" "$port" && return 0
    sleep 0.5
  done
  say "$what did not start listening on $host:$port within 30s"
  return 1
}

as_service_user() {
  # mariadbd refuses to run as root unless told which user to be.
  if [[ $(id -u) == 0 ]]; then echo "--user=mysql"; fi
}

ensure_mariadb() {
  if port_open "$MYSQL_HOST" "$MYSQL_PORT"; then
    say "MariaDB/MySQL is up on $MYSQL_HOST:$MYSQL_PORT"
    return 0
  fi
  local daemon
  daemon=$(command -v mariadbd || command -v mysqld || ls /usr/sbin/mariadbd /usr/sbin/mysqld 2>/dev/null | head -1 || true)
  if [[ -z "$daemon" ]]; then
    say "MariaDB is not installed. Install it (Debian/Ubuntu: apt-get install mariadb-server; macOS: brew install mariadb) or point SISPORTA_TEST_MYSQL_DSN (root@tcp(host:3306)/) at a MySQL 8 or MariaDB 10.6+ as a user that may create databases and users."
    return 1
  fi
  say "starting $daemon"
  mkdir -p /run/mysqld 2>/dev/null && chown mysql:mysql /run/mysqld 2>/dev/null || true
  if command -v start-stop-daemon >/dev/null; then
    start-stop-daemon --start --oknodo --background --exec "$daemon" -- $(as_service_user)
  else
    nohup "$daemon" $(as_service_user) >/tmp/sisporta-mariadb.log 2>&1 &
  fi
  wait_port "$MYSQL_HOST" "$MYSQL_PORT" MariaDB
  say "MariaDB is up on $MYSQL_HOST:$MYSQL_PORT"
}

ensure_redis() {
  if port_open "$REDIS_HOST" "$REDIS_PORT"; then
    say "Redis is up on $REDIS_HOST:$REDIS_PORT"
    return 0
  fi
  if ! command -v redis-server >/dev/null; then
    say "Redis is not installed. Install it (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) or point SISPORTA_TEST_REDIS_URL (redis://host:6379/0) at a Redis 6+."
    return 1
  fi
  say "starting redis-server"
  local dir=/var/lib/redis log=/var/log/redis/ci.log
  mkdir -p "$dir" "$(dirname "$log")" 2>/dev/null || { dir=/tmp; log=/tmp/sisporta-redis.log; }
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" --appendonly no --dir "$dir" --logfile "$log"
  wait_port "$REDIS_HOST" "$REDIS_PORT" Redis
  say "Redis is up on $REDIS_HOST:$REDIS_PORT"
}

ensure_mariadb
ensure_redis
