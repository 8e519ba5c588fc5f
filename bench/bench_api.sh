#!/usr/bin/env bash
# Load-test GET /api/v1/customers/ (cursor pagination) over N customers with gunicorn + wrk.
#
#   bench/bench_api.sh                 # defaults below; see bench/README.md
#   N=1000000 WORKERS=4 CONNECTIONS=8 DURATION=30s bench/bench_api.sh
#
# Generates the data with bench/gen_db.py when the bench database holds fewer than N customers
# (or REGEN=1), serves Posvenda with DEBUG off, then runs `wrk --latency` on the first page and
# on a deep page (the `next` cursor followed DEEP_PAGES times). Raw wrk output goes to bench/out/,
# one summary line per run is appended to bench/out/results.tsv.
set -euo pipefail
cd "$(dirname "$0")/.."

N="${N:-1000000}"
WORKERS="${WORKERS:-4}"
CONNECTIONS="${CONNECTIONS:-8}"
WRK_THREADS="${WRK_THREADS:-2}"
DURATION="${DURATION:-30s}"
WARMUP="${WARMUP:-5s}"
PAGE_SIZE="${PAGE_SIZE:-50}"
DEEP_PAGES="${DEEP_PAGES:-60}"
PORT="${PORT:-8077}"
REGEN="${REGEN:-0}"
PY=.venv/bin/python
WSGI_APP="${WSGI_APP:-posvenda.wsgi:application}"  # another module (e.g. with an experiment) via --pythonpath GUNICORN_ARGS

export DATABASE_URL="${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/posvenda_bench}"
export REDIS_URL="${BENCH_REDIS_URL:-redis://127.0.0.1:6379/4}"
export DEBUG=0
export SECRET_KEY="${SECRET_KEY:-bench-only-secret-key}"
export ALLOWED_HOSTS="127.0.0.1,localhost"
export LOG_LEVEL=WARNING

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
command -v jq >/dev/null || { echo "jq is missing: apt-get install -y jq" >&2; exit 1; }
OUT=bench/out
mkdir -p "$OUT"

DB_NAME="${DATABASE_URL##*/}"
SERVER_URL="${DATABASE_URL%/*}/postgres"
if ! psql "$SERVER_URL" -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'" | grep -q 1; then
  psql "$SERVER_URL" -qc "CREATE DATABASE $DB_NAME"
fi
$PY manage.py migrate --noinput -v0
have=$(psql "$DATABASE_URL" -tAc "SELECT count(*) FROM customers_customer")
if [[ "$REGEN" == 1 || "$have" -lt "$N" ]]; then
  echo "== generating $N customers (found $have)"
  $PY bench/gen_db.py "$N" --database-url "$DATABASE_URL"
fi
TOKEN=$($PY bench/gen_db.py 0 --database-url "$DATABASE_URL" --token-only | tail -1 | awk '{print $2}')
have=$(psql "$DATABASE_URL" -tAc "SELECT count(*) FROM customers_customer")
echo "== $have customers in $DB_NAME"

.venv/bin/gunicorn "$WSGI_APP" ${GUNICORN_ARGS:-} --workers "$WORKERS" --threads 1 \
  --bind "127.0.0.1:$PORT" --log-level warning >"$OUT/gunicorn.log" 2>&1 &
GUNICORN_PID=$!
trap 'kill "$GUNICORN_PID" 2>/dev/null || true; wait "$GUNICORN_PID" 2>/dev/null || true' EXIT INT TERM

BASE="http://127.0.0.1:$PORT"
FIRST="$BASE/api/v1/customers/?page_size=$PAGE_SIZE"
AUTH="Authorization: Token $TOKEN"
for _ in $(seq 1 60); do
  if curl -fs -o /dev/null -H "$AUTH" "$FIRST"; then break; fi
  sleep 0.5
done
status=$(curl -s -o "$OUT/first_page.json" -w '%{http_code}' -H "$AUTH" -H 'Accept: application/json' "$FIRST")
if [[ "$status" != 200 ]]; then
  echo "GET $FIRST answered $status:" >&2; head -c 600 "$OUT/first_page.json" >&2; exit 1
fi
echo "== first page: $(jq '.results | length' "$OUT/first_page.json") results, next: $(jq -r '.next' "$OUT/first_page.json" | cut -c1-80)…"

DEEP="$FIRST"
for _ in $(seq 1 "$DEEP_PAGES"); do
  DEEP=$(curl -fs -H "$AUTH" -H 'Accept: application/json' "$DEEP" | jq -r '.next')
done
echo "== deep page: $((DEEP_PAGES * PAGE_SIZE)) rows in: $DEEP"

# CPU time (clock ticks) used so far by the gunicorn master and its workers: divided by the number
# of requests it gives the server's CPU cost per request, which other load on the machine barely
# changes (unlike req/s and latency; the load average is recorded next to them for that reason).
gunicorn_ticks() {
  local total=0 pid fields
  for pid in "$GUNICORN_PID" $(pgrep -P "$GUNICORN_PID"); do
    read -r -a fields <"/proc/$pid/stat" || continue
    total=$((total + fields[13] + fields[14]))
  done
  echo "$total"
}
HZ=$(getconf CLK_TCK)

run_wrk() {  # label url
  local label=$1 url=$2 file="$OUT/wrk_$1.txt"
  wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$WARMUP" -H "$AUTH" -H 'Accept: application/json' "$url" >/dev/null
  echo "== wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION --latency $label (load average before: $(cut -d' ' -f1-3 /proc/loadavg))"
  local t0 t1
  t0=$(gunicorn_ticks)
  wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "$AUTH" -H 'Accept: application/json' "$url" \
    | tee "$file"
  t1=$(gunicorn_ticks)
  local rps p50 p99 non2xx requests cpu_ms
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$file")
  p50=$(awk '$1 == "50%" {print $2}' "$file")
  p99=$(awk '$1 == "99%" {print $2}' "$file")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$file")
  requests=$(awk '/requests in/ {print $1}' "$file")
  cpu_ms=$(awk -v d="$((t1 - t0))" -v hz="$HZ" -v n="$requests" 'BEGIN {printf "%.2f", d * 1000 / hz / n}')
  echo "== gunicorn CPU per request: ${cpu_ms} ms; load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
  printf '%s\tapi_%s\tcustomers=%s\tworkers=%s\tconnections=%s\treq/s=%s\tp50=%s\tp99=%s\tnon2xx=%s\tcpu_ms/req=%s\tload=%s\tapp=%s\n' \
    "$(date -Iseconds)" "$label" "$have" "$WORKERS" "$CONNECTIONS" "$rps" "$p50" "$p99" "${non2xx:-0}" "$cpu_ms" \
    "$(cut -d' ' -f1 /proc/loadavg)" "$WSGI_APP" | tee -a "$OUT/results.tsv"
}

run_wrk first_page "$FIRST"
run_wrk deep_page "$DEEP"
