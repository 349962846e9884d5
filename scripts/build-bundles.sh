#!/usr/bin/env bash
# `make bundles`: the tablet app and the sync server as one-folder PyInstaller bundles,
#   dist/fieldapp/fieldapp and dist/sync-server/sync-server
# (DIST=... and WORK=... choose other folders). Installs PyInstaller (the `bundle` extra)
# into .venv first. The two builds run side by side: each is mostly one core's work.
# Then check each with `--self-test` (build_specs/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
dist=${DIST:-dist}
work=${WORK:-build/pyinstaller}
# PyInstaller is the `bundle` extra of pyproject.toml; installed once.
.venv/bin/python -c 'import PyInstaller' 2>/dev/null || .venv/bin/python -m pip install -q -e '.[dev,bundle]'
mkdir -p "$work"
started=$SECONDS
pids=()
for spec in fieldapp sync_server; do
    .venv/bin/pyinstaller --noconfirm --log-level WARN --distpath "$dist" \
        --workpath "$work" "build_specs/$spec.spec" >"$work/$spec.log" 2>&1 &
    pids+=($!)
done
failed=0
for i in 0 1; do
    spec=$([[ $i == 0 ]] && echo fieldapp || echo sync_server)
    if ! wait "${pids[$i]}"; then
        echo "bundles: building $spec failed; its log ($work/$spec.log) ends with:" >&2
        tail -n 30 "$work/$spec.log" >&2
        failed=1
    fi
done
((failed == 0)) || exit 1
echo "bundles: built $dist/fieldapp and $dist/sync-server in $((SECONDS - started)) s"
du -sh "$dist/fieldapp" "$dist/sync-server"
