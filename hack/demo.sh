#!/usr/bin/env bash
# make demo: seed a small garage-door ERP in the local MariaDB (the source
# stand-in), mirror it with `sisporta sync`, change and delete some source
# rows, mirror again, and show what was written, left alone and deleted.
# Needs only MariaDB: the queue is sisporta's embedded Redis.
set -euo pipefail
cd "$(dirname "$0")/.."

HOST="${SISPORTA_DEMO_MYSQL_HOST:-127.0.0.1}"
PORT="${SISPORTA_DEMO_MYSQL_PORT:-3306}"
USER_="${SISPORTA_DEMO_MYSQL_USER:-root}"
SRC=sisporta_demo_erp
DST=sisporta_demo_mirror
BIN="${BIN:-bin/sisporta}"

sql() { mariadb --default-character-set=utf8mb4 -h "$HOST" -P "$PORT" -u "$USER_" "$@"; }
title() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

hack/services.sh
title "Seeding the ERP (source) in $SRC; the mirror (target) is $DST"
sql -e "DROP DATABASE IF EXISTS $SRC; DROP DATABASE IF EXISTS $DST;
        CREATE DATABASE $SRC CHARACTER SET utf8mb4; CREATE DATABASE $DST CHARACTER SET utf8mb4;"
sql "$SRC" < hack/demo/seed.sql

export SISPORTA_SOURCE_DSN="$USER_@tcp($HOST:$PORT)/$SRC"
export SISPORTA_TARGET_DSN="$USER_@tcp($HOST:$PORT)/$DST"
unset SISPORTA_REDIS_URL # the embedded Redis: a laptop needs only the databases

title "First sync: everything is new"
"$BIN" sync -f hack/demo/pipeline.yaml

title "Mirror after the first sync"
sql "$DST" -t -e "SELECT id, name, city, credit_limit FROM dealers ORDER BY id;
                  SELECT code, description, base_price FROM products ORDER BY code;"

title "Changing the ERP"
sed -n 's/^-- //p' hack/demo/changes.sql
sql "$SRC" < hack/demo/changes.sql

title "Second sync: only what changed is written; vanished rows go"
"$BIN" sync -f hack/demo/pipeline.yaml

title "Mirror after the second sync"
sql "$DST" -t -e "SELECT id, name, credit_limit FROM dealers ORDER BY id;
                  SELECT code, base_price, _sisporta_deleted_at AS soft_deleted FROM products ORDER BY code;
                  SELECT list_id, COUNT(*) AS prices, MAX(changed_at) AS last_change FROM price_lists GROUP BY list_id;"

title "Third sync: nothing changed, nothing written"
"$BIN" sync -f hack/demo/pipeline.yaml -o json | sed -n '1,12p'

title "Run records kept in the mirror (_sisporta_runs)"
sql "$DST" -t -e "SELECT run_id, entity, result, rows_read, rows_written, rows_unchanged, rows_deleted, cleanup_result
                  FROM _sisporta_runs ORDER BY run_id, entity;"
