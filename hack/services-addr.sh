# Sourced by hack/services.sh and hack/cluster.sh: where the tests' MariaDB
# and Redis are, from the variables the tests read (test/testenv):
#
#   SISPORTA_TEST_MYSQL_DSN  user[:password]@tcp(host:port)/  default root@tcp(127.0.0.1:3306)/
#   SISPORTA_TEST_REDIS_URL  redis://[user:password@]host:port[/db]  default redis://127.0.0.1:6379/0
#
# It sets MYSQL_HOST, MYSQL_PORT, REDIS_HOST and REDIS_PORT.

MYSQL_HOST=127.0.0.1 MYSQL_PORT=3306
if [[ -n "${SISPORTA_TEST_MYSQL_DSN:-}" ]]; then
  if [[ "$SISPORTA_TEST_MYSQL_DSN" =~ tcp\(([^:\)]+)(:([0-9]+))?\) ]]; then
    MYSQL_HOST=${BASH_REMATCH[1]} MYSQL_PORT=${BASH_REMATCH[3]:-3306}
  else
    echo "SISPORTA_TEST_MYSQL_DSN names no tcp(host:port) address (want user[:password]@tcp(host:port)/)" >&2
    exit 1
  fi
fi

REDIS_HOST=127.0.0.1 REDIS_PORT=6379
if [[ -n "${SISPORTA_TEST_REDIS_URL:-}" ]]; then
  if [[ "$SISPORTA_TEST_REDIS_URL" =~ ^rediss?://([^@/]*@)?([^:/@]+)(:([0-9]+))? ]]; then
    REDIS_HOST=${BASH_REMATCH[2]} REDIS_PORT=${BASH_REMATCH[4]:-6379}
  else
    echo "SISPORTA_TEST_REDIS_URL is not a redis://[user:password@]host:port[/db] URL" >&2
    exit 1
  fi
fi
