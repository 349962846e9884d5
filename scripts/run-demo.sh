#!/usr/bin/env bash
# The main job: a district sync server on its embedded SQLite with the demo forms, and the
# tablet app enrolled against it. Data lives in var/demo/ (delete it to start over).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
PORT=${PORT:-8000}
DEMO=${DEMO_DIR:-var/demo}
mkdir -p "$DEMO"

$PY -m sync_server.cli serve --data-dir "$DEMO/server" --host 127.0.0.1 --port "$PORT" \
    >"$DEMO/server.log" 2>&1 &
server_pid=$!
trap 'kill $server_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
    $PY -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1], timeout=1)" \
        "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break
    sleep 0.2
done
echo "sync server: http://127.0.0.1:$PORT (log: $DEMO/server.log)"

app_args=()
if [[ ! -f $DEMO/tablet/fieldapp.db ]]; then
    # First run: a coordinator enrolls the tablet for Namacurra district (MZ1120).
    code=$($PY -m sync_server.cli enroll --data-dir "$DEMO/server" \
        --enumerator "Demo Enumerator" --district MZ1120 2>/dev/null |
        sed -n 's/^Enrollment code: *//p')
    echo "tablet enrolled with code $code (district MZ1120, Namacurra)"
    app_args=(--server "http://127.0.0.1:$PORT" --enroll-code "$code"
        --enumerator "Demo Enumerator")
fi
$PY -m fieldapp --data-dir "$DEMO/tablet" "${app_args[@]}" "$@"
