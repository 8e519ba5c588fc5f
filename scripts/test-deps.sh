#!/usr/bin/env bash
# Checks what `make test` needs beyond Python packages: PostgreSQL, Redis and Chromium.
# Installs Chromium from Debian when it is missing and we are allowed to (root with apt-get).
# Nothing is skipped for a missing service: the run fails with the reason instead.
set -uo pipefail
status=0
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing Debian's chromium for the browser tests"
    apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; }
  fi
  [ -x /usr/bin/chromium ] || { echo "ERROR: /usr/bin/chromium is missing: apt-get install -y chromium"; status=1; }
fi
db="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/posvenda}"
if ! .venv/bin/python - "$db" <<'PY'
import sys, psycopg2
url = sys.argv[1].replace("postgres://", "postgresql://", 1)
base = url.rsplit("/", 1)[0] + "/postgres"
psycopg2.connect(base, connect_timeout=3).close()
PY
then echo "ERROR: PostgreSQL is not reachable at $db (start it, or see .ci/run)"; status=1; fi
redis="${REDIS_URL:-redis://127.0.0.1:6379/0}"
if ! .venv/bin/python -c "import redis,sys; redis.Redis.from_url(sys.argv[1], socket_connect_timeout=3).ping()" "$redis" 2>/dev/null; then
  echo "ERROR: Redis is not reachable at $redis (start it, or see .ci/run)"; status=1
fi
exit $status
