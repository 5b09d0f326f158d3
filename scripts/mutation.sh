#!/usr/bin/env bash
# Mutation testing of the pure core with mutmut 3: scripts/mutation.sh [module ...]
#
#   scripts/mutation.sh                                   # every module of [tool.mutmut.core]
#   scripts/mutation.sh tickets/workflow.py dialplan.plan # some of them (a path or a dotted name)
#
# The modules and their unit tests are the table [tool.mutmut.core] in pyproject.toml. mutmut
# copies the packages of [tool.mutmut] source_paths into mutants/ (git-ignored, made anew on each
# run), makes one mutant per small change of the chosen modules (a flipped comparison, a changed
# constant, a dropped argument ...) and runs against each mutant those of the module's tests that
# cover the mutated function. A mutant no test notices "survives". Then this prints the score per
# module (killed / total) and each surviving mutant as a diff.
#
# Everything runs under `nice -n 19` (the machines are shared). MUTMUT_JOBS sets the workers
# (default: the number of cores); MUTATION_PYTEST_ARGS adds pytest options to every test run
# (e.g. "--deselect tests/acd/test_acd.py::test_x" while a test fails on the clean code, which
# mutmut refuses). Not part of CI. The results stay in mutants/ until the next run; see them
# again with `scripts/mutation.sh --results`.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
MUTMUT=.venv/bin/mutmut
if [[ ! -x $MUTMUT ]]; then
  echo "mutation: mutmut is not installed: run scripts/install.sh (it installs .[dev])" >&2
  exit 2
fi

PY=.venv/bin/python
if ! "$PY" -c 'import mutmut' 2>/dev/null; then
  echo "mutation: mutmut is not installed: run scripts/install.sh (it installs .[dev])" >&2
  exit 2
fi

# mutmut itself, with only_mutate and the test selection set from [tool.mutmut.core] for the
# modules in $MUTATION_MODULES (mutmut's own config has one global list of each)
read -r -d '' MUTMUT <<'PYMUTMUT' || true
import os, shlex, sys, tomllib
from pathlib import Path
import mutmut.configuration as mc
core = tomllib.loads(Path("pyproject.toml").read_text("utf-8"))["tool"]["mutmut"]["core"]
modules = os.environ["MUTATION_MODULES"].split()
cfg = mc.config()
cfg.only_mutate = modules
cfg.pytest_add_cli_args_test_selection = sorted({t for m in modules for t in core[m]})
cfg.pytest_add_cli_args = cfg.pytest_add_cli_args + shlex.split(os.environ.get("MUTATION_PYTEST_ARGS", ""))
from mutmut.__main__ import cli
cli(prog_name="mutmut")
PYMUTMUT

results_only=0
if [[ ${1:-} == --results ]]; then results_only=1; shift; fi

# the chosen modules (paths or dotted names; none: all of them), checked against the table
mapfile -t MODULES < <("$PY" - "$@" <<'PYCONF'
import sys, tomllib
from pathlib import Path
core = tomllib.loads(Path("pyproject.toml").read_text("utf-8"))["tool"]["mutmut"]["core"]
def dotted(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".")
by_name = {dotted(p): p for p in core}
wanted = [by_name.get(dotted(w)) or sys.exit(f"mutation: {w} is not in [tool.mutmut.core]: {', '.join(core)}")
          for w in sys.argv[1:]] or list(core)
for module in wanted:
    if not Path(module).is_file():
        print(f"mutation: {module} (in [tool.mutmut.core]) does not exist: skipped", file=sys.stderr)
        continue
    missing = [t for t in core[module] if not Path(t).exists()]
    if missing:
        sys.exit(f"mutation: [tool.mutmut.core] lists {', '.join(missing)} for {module}: no such file")
    print(module)
PYCONF
)
((${#MODULES[@]})) || exit 2
export MUTATION_MODULES="${MODULES[*]}"
names=()
for m in "${MODULES[@]}"; do names+=("${m%.py}"); done
names=("${names[@]//\//.}")

elapsed=
if ((!results_only)); then
  patterns=()
  for n in "${names[@]}"; do patterns+=("$n.*"); done
  echo "mutation: mutmut run on ${MODULES[*]} (output in mutants/run.log)" >&2
  start=$(date +%s)
  rm -rf mutants
  mkdir mutants
  status=0
  # naming the mutants makes mutmut test every one of them
  nice -n 19 "$PY" -c "$MUTMUT" run --max-children "${MUTMUT_JOBS:-$(nproc)}" "${patterns[@]}" \
    >mutants/run.log 2>&1 || status=$?
  if ((status)); then
    tail -40 mutants/run.log >&2
    echo "mutation: mutmut run failed (exit $status); its whole output is in mutants/run.log" >&2
    exit $status
  fi
  elapsed=$(( $(date +%s) - start ))
fi
[[ -d mutants ]] || { echo "mutation: no results yet: run scripts/mutation.sh first" >&2; exit 2; }

"$PY" -c "$MUTMUT" results --all true >mutants/results.txt
MUTMUT_DRIVER=$MUTMUT "$PY" - "$elapsed" "${names[@]}" <<'PYSCORE'
import os, subprocess, sys
from collections import Counter
elapsed, modules = sys.argv[1], sys.argv[2:]
status_of = {}
for line in open("mutants/results.txt", encoding="utf-8"):
    name, sep, status = line.strip().rpartition(": ")
    if sep:
        status_of[name] = status
KILLED = {"killed", "timeout", "caught by type check"}
took = f", the run took {elapsed} s" if elapsed else ""
print(f"\nmutation score (killed / total; a timeout counts as killed{took})")
survivors = []
for module in modules:
    mine = {n: s for n, s in status_of.items() if n.startswith(module + ".")}
    count = Counter(mine.values())
    killed = sum(count[s] for s in KILLED)
    total = len(mine)
    others = ", ".join(f"{s} {c}" for s, c in sorted(count.items()) if s not in KILLED)
    pct = 100.0 * killed / total if total else 100.0
    print(f"  {module:22} {killed:4} / {total:<4} {pct:5.1f}%   {others}")
    survivors += sorted((n for n, s in mine.items() if s not in KILLED),
                        key=lambda n: (n.rpartition("__mutmut_")[0], int(n.rpartition("__mutmut_")[2] or 0)))
if survivors:
    print(f"\nsurviving mutants ({len(survivors)}):")
    for name in survivors:
        print()
        sys.stdout.flush()
        subprocess.run([sys.executable, "-c", os.environ["MUTMUT_DRIVER"], "show", name], check=False)
PYSCORE
