#!/usr/bin/env bash
# Mutation testing (issue 13): mutmut changes the code below one small edit at a time (a `==`
# turned into `!=`, a constant changed, a call dropped) and runs the unit tests that reach the
# changed function. A mutant no test notices ("survived") is a rule the tests do not pin.
#
#   scripts/mutation.sh                     # the smoke scope: smoke/check.py smoke/loadgen.py
#   scripts/mutation.sh components/names.py infra/config   # any files or packages
#
# Runs in a scratch copy of the work tree (mutmut writes a `mutants/` tree next to the code),
# never in CI: a run of the smoke scope takes 10-20 minutes on 2 cores. Engine tests (markers
# e2e, engines) are left out; they are too slow to run once per mutant.
# Env: MUTATION_WORKDIR (scratch dir, default a new temp dir), MUTATION_JOBS (default: cores).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
VENV="${VENV:-$ROOT/.venv}"
MUTMUT_VERSION=3.8.1

# What to mutate. Extend here (or pass paths): infra/config, components/names.py,
# components/engines.py.
DEFAULT_PATHS=(smoke/check.py smoke/loadgen.py)
# Which test directories exercise each top-level package.
declare -A TESTS_FOR=(
  [smoke]="tests/smoke tests/bench"
  [infra]="tests/unit tests/test_cli.py tests/test_program.py tests/test_stacks.py"
  [components]="tests/unit tests/contract tests/platforms"
)

paths=("$@")
[ ${#paths[@]} -gt 0 ] || paths=("${DEFAULT_PATHS[@]}")

if ! "$VENV/bin/python" -c "import mutmut" 2>/dev/null \
    || [ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("mutmut"))')" \
         != "$MUTMUT_VERSION" ]; then
  "$VENV/bin/pip" install --quiet "mutmut==$MUTMUT_VERSION"
fi

# TOML arrays for mutmut's config: files to mutate, tests to run. Every package is copied into
# mutmut's tree, mutated or not: the venv's editable install would otherwise import the
# unmutated ones from the main checkout.
PACKAGES=(smoke infra components)
declare -A tests=()
only=()
for path in "${paths[@]}"; do
  [ -e "$path" ] || { echo "mutation: no such path: $path" >&2; exit 2; }
  top="${path%%/*}"
  [ -n "${TESTS_FOR[$top]:-}" ] || { echo "mutation: no tests known for $top/" >&2; exit 2; }
  for t in ${TESTS_FOR[$top]}; do tests[$t]=1; done
  if [ -d "$path" ]; then only+=("${path%/}/*"); else only+=("$path"); fi
done
toml_array() { local out="" x; for x in "$@"; do out+="${out:+, }\"$x\""; done; echo "[$out]"; }

WORK="${MUTATION_WORKDIR:-$(mktemp -d -t mutation.XXXXXX)}"
mkdir -p "$WORK"
# The work tree as it is (tracked and new files, not ignored ones), without other runs' mutants.
git ls-files -co --exclude-standard | grep -v -e '^mutants/' -e '^\.venv$' | tar -cf - -T - | tar -xf - -C "$WORK"
cat >> "$WORK/pyproject.toml" <<EOF

[tool.mutmut]
source_paths = $(toml_array "${PACKAGES[@]}")
only_mutate = $(toml_array "${only[@]}")
pytest_add_cli_args_test_selection = $(toml_array "${!tests[@]}")
pytest_add_cli_args = ["-q", "-p", "no:cacheprovider", "-m", "not e2e and not engines"]
also_copy = ["benchmarks"]
EOF

echo "mutation: mutating ${paths[*]} in $WORK" >&2
cd "$WORK"
start=$(date +%s)
"$VENV/bin/mutmut" run --max-children "${MUTATION_JOBS:-$(nproc)}" >"$WORK/run.log" 2>&1 || {
  tail -30 "$WORK/run.log" >&2; exit 1; }
"$VENV/bin/mutmut" export-cicd-stats >/dev/null
"$VENV/bin/mutmut" results >"$WORK/survivors.txt" || true
echo "mutation: finished in $(( $(date +%s) - start )) s; survivors listed in $WORK/survivors.txt"
"$VENV/bin/python" - "$WORK/mutants/mutmut-cicd-stats.json" <<'EOF'
import json
import sys

stats = json.load(open(sys.argv[1]))
tested = stats["total"] - stats.get("skipped", 0)
killed = stats["killed"] + stats.get("timeout", 0)
print(f"mutants {stats['total']}: killed {stats['killed']}, timeout {stats.get('timeout', 0)}, "
      f"survived {stats['survived']}, no tests {stats.get('no_tests', 0)}, "
      f"skipped {stats.get('skipped', 0)}; score {100.0 * killed / max(tested, 1):.1f}%")
EOF
echo "mutation: inspect one with: (cd $WORK && $VENV/bin/mutmut show NAME)"
