#!/usr/bin/env bash
# Install everything the controller, its sandbox and its tests need, on Debian/Ubuntu as root.
# Idempotent: a second run only checks. Package sources come from the machine's own apt and pip
# configuration.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  python3 python3-venv python3-pip   # the controller (Python >= 3.11)
  debootstrap                        # builds the sandbox root with Debian sid's Asterisk 22
  baresip-core                       # real SIP phones for tests and the demo
  sox                                # the phones' microphone WAV; prompt checks
  ffmpeg                             # recordings: conversion to Opus (pydub drives it), decoding to verify
  espeak-ng                          # Mandarin prompts (ivr)
  postgresql                         # the store's production database (tests start a cluster)
  nftables                           # NAT in the home-seat tests' network namespaces
  mosquitto mosquitto-clients        # the MQTT broker the live events go to (tests start their own)
  chromium fonts-noto-cjk            # the pages tested in a real browser (Playwright drives it), Chinese glyphs
  procps psmisc iproute2 ca-certificates
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "install: apt-get install ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

PY=${PYTHON:-python3}
"$PY" - <<'PYCHECK'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"install: Python >= 3.11 is needed, found {sys.version.split()[0]}")
PYCHECK

if [[ ! -x .venv/bin/python ]]; then
  echo "install: creating .venv" >&2
  "$PY" -m venv .venv
fi
if ! .venv/bin/python -c 'import hotline_pbx, aiohttp, sqlalchemy, pytest, panoramisk' 2>/dev/null \
   || [[ pyproject.toml -nt .venv/.installed ]]; then
  echo "install: pip install -e .[dev]" >&2
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[dev]'
  touch .venv/.installed
fi
echo "install: ready" >&2
