#!/usr/bin/env bash
# The main job: a district sync server on its embedded SQLite with the demo forms, and the
# tablet app enrolled against it. Data lives in var/demo/ (delete it to start over).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
PORT=${PORT:-8000}
DEMO=${DEMO_DIR:-var/demo}
mkdir -p "$DEMO"

if [[ -x .venv/bin/sync-server ]] && $PY -c "import sync_server.cli" 2>/dev/null; then
    $PY -m sync_server.cli serve --data-dir "$DEMO/server" --host 127.0.0.1 --port "$PORT" \
        >"$DEMO/server.log" 2>&1 &
    server_pid=$!
    trap 'kill $server_pid 2>/dev/null || true' EXIT
    for _ in $(seq 1 50); do
        curl -fsS "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break
        sleep 0.2
    done
    echo "sync server: http://127.0.0.1:$PORT (log: $DEMO/server.log)"
    if [[ ! -f $DEMO/tablet/fieldapp.db ]]; then
        code=$($PY -m sync_server.cli enroll --data-dir "$DEMO/server" --enumerator "Demo Enumerator" \
            --district MZ1120 --quiet)
        app_args=(--server "http://127.0.0.1:$PORT" --enroll-code "$code" --enumerator "Demo Enumerator")
    else
        app_args=()
    fi
else
    app_args=(--enumerator "Demo Enumerator")
fi
$PY -m fieldapp --data-dir "$DEMO/tablet" "${app_args[@]}" "$@"
