#!/usr/bin/env bash
# One-shot set-up for a fresh machine: system libraries, a virtual environment in .venv,
# and the project with its dev dependencies. Safe to run again; it only adds what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages. Kivy's offscreen window needs Mesa's GL (libgl1-mesa-dri, libegl1);
# libmtdev1 and xclip silence harmless Kivy warnings; tesseract-ocr (with its Portuguese
# data) lets the OCR test read the screens as a person does; chromium and chromium-driver
# run the workspace's browser tests (headless). Only root can install them.
apt_packages=(libgl1-mesa-dri libegl1 libmtdev1 xclip tesseract-ocr tesseract-ocr-por
    chromium chromium-driver)
missing=()
for pkg in "${apt_packages[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]]; then
        echo "setup: installing Debian packages: ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "setup: please install these Debian packages: ${missing[*]}" >&2
    fi
fi

python=${PYTHON:-}
if [[ -z $python ]]; then
    for candidate in python3.11 python3.12 python3.13 python3; do
        if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
            python=$candidate
            break
        fi
    done
fi
[[ -n $python ]] || { echo "setup: Python 3.11 or newer is required" >&2; exit 1; }

[[ -x .venv/bin/python ]] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]'
echo "setup: ready (.venv)"
