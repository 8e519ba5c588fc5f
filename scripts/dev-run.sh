#!/usr/bin/env bash
# Starts Posvenda for development: web server, Celery worker and Celery beat in one terminal.
# Ctrl-C stops all three.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBUG="${DEBUG:-1}"
PORT="${PORT:-8000}"
export SITE_URL="${SITE_URL:-http://127.0.0.1:${PORT}}"  # absolute links in e-mails (unsubscribe, preferences)
PY=.venv/bin/python
mkdir -p var

echo "== Database: ${DATABASE_URL:-SQLite (var/db.sqlite3)}"
echo "== Broker:   ${REDIS_URL:-embedded filesystem broker (var/broker)}"
$PY manage.py migrate --noinput
$PY manage.py compilemessages --ignore '.venv/*' >/dev/null 2>&1 || true
$PY manage.py load_demo
$PY manage.py load_playbooks
$PY manage.py funnel_backfill
$PY manage.py load_survey_demo
$PY manage.py load_support_demo
$PY manage.py load_loyalty_demo
$PY manage.py load_reviews_demo
$PY manage.py health_recompute  # health scores for the demo book (then nightly by beat)
$PY manage.py metrics_rollup    # daily KPI roll-ups of the demo history (then nightly by beat)

pids=()
cleanup() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  # A worker finishing a task gets 10 s (warm shutdown); then everything still alive is killed.
  for _ in $(seq 1 20); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.5
  done
  for pid in "${pids[@]}"; do pkill -KILL -P "$pid" 2>/dev/null; kill -KILL "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

.venv/bin/celery -A posvenda worker --loglevel=INFO --concurrency=2 >var/worker.log 2>&1 &
pids+=($!)
.venv/bin/celery -A posvenda beat --loglevel=INFO --pidfile= >var/beat.log 2>&1 &
pids+=($!)
$PY manage.py runserver "127.0.0.1:${PORT}" --noreload &
pids+=($!)

sleep 2
cat <<MSG

  Posvenda is running at http://127.0.0.1:${PORT}/
  Demo login (admin):   admin / posvenda-demo
  Demo login (manager): gerente / posvenda-demo
  Demo login (agent):   agente / posvenda-demo
  API docs:             http://127.0.0.1:${PORT}/api/docs/
  Worker and beat logs: var/worker.log, var/beat.log
  Press Ctrl-C to stop.

MSG
wait -n "${pids[@]}"
