#!/usr/bin/env bash
# Install what is needed, then run the controller against the sandbox Asterisk with simulated
# citizens calling 12345. Pass options through, e.g. `bash scripts/demo.sh --calls 20`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/python hotline_pbx.py demo "$@"
