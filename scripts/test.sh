#!/usr/bin/env bash
# Install what is needed, then run the whole test suite: unit tests, then the integration tests
# against the real sandbox Asterisk (built on first use, about a minute) with baresip phones.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
echo "test: mypy --strict on the pure modules and protocol edges" >&2
.venv/bin/mypy
.venv/bin/python hotline_pbx.py sandbox up
status=0
.venv/bin/python -m pytest "$@" || status=$?
.venv/bin/python hotline_pbx.py sandbox down || true
if [[ $status -eq 5 ]]; then
  echo "test: pytest collected no tests" >&2
  exit 1
fi
exit $status
