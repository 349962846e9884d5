#!/usr/bin/env bash
# The main job: a district sync server on its embedded SQLite with the demo forms, and the
# tablet app enrolled against it. Data lives in var/demo/ (delete it to start over).
#
# It tells the truth: it says "running" only once the server answers /health and the
# tablet is enrolled, and otherwise stops with one sentence (and the server log's last
# lines). One demo per data folder; Ctrl-C (or closing the window) stops both programs.
#   PORT=8010 make run       another port when 8000 is taken
#   DEMO_DIR=/tmp/demo ...   another data folder
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
PORT=${PORT:-8000}
DEMO=${DEMO_DIR:-var/demo}

fail() {
    echo "make run: $*" >&2
    exit 1
}

# Without a display the app would open an invisible window: say so before starting anything.
if [[ $(uname -s) == Linux && -z ${DISPLAY:-} && -z ${WAYLAND_DISPLAY:-} && ${FIELDAPP_OFFSCREEN:-} != 1 ]]; then
    fail "no display found (DISPLAY is not set): run it in a desktop session, or see the screens with '$PY -m fieldapp.screenshots OUTDIR'."
fi

[[ $PORT =~ ^[0-9]+$ ]] && ((PORT > 0 && PORT < 65536)) ||
    fail "PORT must be a number between 1 and 65535, not '$PORT'."

mkdir -p "$DEMO" 2>/dev/null && [[ -d $DEMO ]] || fail "cannot use $DEMO as the demo data folder."

# One demo per data folder: the lock lives as long as this script (and goes with it).
exec 9>"$DEMO/run.lock"
if ! flock -n 9; then
    fail "a demo is already running on $DEMO (its window is open somewhere): use it, or stop it with Ctrl-C first."
fi

if ! $PY - "$PORT" 2>/dev/null <<'EOF'; then
import socket, sys
with socket.socket() as probe:
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    probe.bind(("127.0.0.1", int(sys.argv[1])))
EOF
    fail "port $PORT is already in use by another program: choose another, e.g. PORT=8010 make run"
fi

server_pid=""
app_pid=""
stop_all() {
    trap - INT TERM EXIT
    [[ -n $app_pid ]] && kill -TERM "$app_pid" 2>/dev/null || true
    [[ -n $server_pid ]] && kill -TERM "$server_pid" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap 'stop_all; exit 130' INT TERM
trap stop_all EXIT

init=()
[[ -f $DEMO/server/sync.db ]] || init=(--init)
$PY -m sync_server.cli serve --data-dir "$DEMO/server" --host 127.0.0.1 --port "$PORT" \
    "${init[@]}" >"$DEMO/server.log" 2>&1 9>&- &
server_pid=$!

healthy=""
for _ in $(seq 1 150); do
    kill -0 "$server_pid" 2>/dev/null || break
    if $PY -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1], timeout=1)" \
        "http://127.0.0.1:$PORT/health" >/dev/null 2>&1; then
        healthy=yes
        break
    fi
    sleep 0.2
done
if [[ -z $healthy ]]; then
    echo "make run: the sync server did not start; the last lines of $DEMO/server.log:" >&2
    tail -n 15 "$DEMO/server.log" >&2
    exit 1
fi
echo "sync server: http://127.0.0.1:$PORT (log: $DEMO/server.log)"

app_args=()
if [[ ! -f $DEMO/tablet/fieldapp.db ]]; then
    # First run: a coordinator enrolls the tablet for Namacurra district (MZ1120).
    if ! output=$($PY -m sync_server.cli enroll --data-dir "$DEMO/server" \
        --enumerator "Demo Enumerator" --district MZ1120 2>&1); then
        echo "make run: could not make an enrollment code:" >&2
        echo "$output" >&2
        exit 1
    fi
    code=$(sed -n 's/^Enrollment code: *//p' <<<"$output")
    [[ -n $code ]] || fail "the server printed no enrollment code: $output"
    echo "enrollment code $code (district MZ1120, Namacurra): the app enrolls with it"
    app_args=(--server "http://127.0.0.1:$PORT" --enroll-code "$code"
        --enumerator "Demo Enumerator")
fi
# In the background so that Ctrl-C reaches this script, which then stops both programs.
$PY -m fieldapp --data-dir "$DEMO/tablet" "${app_args[@]}" "$@" 9>&- &
app_pid=$!
set +e
wait "$app_pid"
status=$?
app_pid=""
exit "$status"
