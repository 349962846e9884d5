#!/usr/bin/env bash
# Assemble build/android-src: what build_specs/buildozer.spec packages for Android.
# python-for-android wants main.py at the top of its source folder; we give it a copy of
# the three packages the tablet needs (never sync_server) and build_specs/android_main.py.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/android-src}
rm -rf "$out"
mkdir -p "$out"
for package in forms fieldapp sync_core; do
    cp -r "$package" "$out/$package"
done
find "$out" -name __pycache__ -type d -prune -exec rm -rf {} +
cp build_specs/android_main.py "$out/main.py"
echo "android-src: $out is ready; next: cd build_specs && buildozer android debug"
