#!/usr/bin/env bash
# Offline plan of each stack on the base commit and on the working tree, and the Markdown
# comment with their diffs (CI, pull requests from forks: no secrets, so no `pulumi preview`).
#
#   scripts/ci/offline_plan_diff.sh BASE_COMMIT OUT_DIR STACK...
#
# Writes OUT_DIR/base/<stack>/ and OUT_DIR/head/<stack>/ (the plans) and OUT_DIR/comment.md.
# The base plan runs the base commit's own program (a git worktree), so a change to infra/ or
# components/ shows up in the diff. Exit 1 when a stack does not plan on the head (the comment
# then says why: config problems name the key path), else 0.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "$#" -lt 3 ]; then
  echo "usage: $0 BASE_COMMIT OUT_DIR STACK..." >&2
  exit 2
fi
base_commit="$1"
out="$2"
shift 2
PY="${PYTHON:-python}"
# Absolute, since the base plan runs from the worktree (keep a venv's symlink as it is).
if [[ "$PY" == */* ]]; then PY="$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")"; fi
root="$(pwd)"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
worktree="$(mktemp -d)/base"
git worktree add --quiet --detach "$worktree" "$base_commit"
trap 'git -C "$root" worktree remove --force "$worktree" >/dev/null 2>&1 || true' EXIT

comment="$out/comment.md"
{
  echo "<!-- inference-stacks:plan-diff -->"
  echo "## Offline plan diff"
  echo
  echo "This pull request comes from a fork, so CI ran no \`pulumi preview\` (no cloud" \
       "credentials). Below: \`python -m infra plan\` of each affected stack on the base" \
       "commit \`${base_commit:0:12}\` against this pull request. Load balancer hostnames and" \
       "kubeconfigs are placeholders; secrets are redacted."
  echo
} > "$comment"

# Secrets a fresh clone lacks: a stack file that documents `pulumi config set --secret KEY` but
# holds no `inference-stacks:KEY` is planned as if it were set (`--secret KEY`), when the
# checkout's plan command knows the option (older base commits do not).
secret_args() {  # secret_args CHECKOUT STACK
  local file="$1/stacks/Pulumi.$2.yaml" key
  grep -q -- '--secret' "$1/infra/plan/cli.py" 2>/dev/null || return 0
  for key in $(grep -o 'pulumi config set --secret [a-z_]*' "$file" | awk '{print $5}' | sort -u); do
    grep -q "^  inference-stacks:$key:" "$file" || printf -- '--secret\n%s\n' "$key"
  done
}

# GitHub caps a comment at 65,536 characters: share 60,000 between the stacks.
per_stack=$(( 60000 / $# ))
status=0
for stack in "$@"; do
  mapfile -t head_secrets < <(secret_args "$root" "$stack")
  if ! "$PY" -m infra plan --stack "$stack" --out "$out/head/$stack" --quiet \
      "${head_secrets[@]}" 2> "$out/head-$stack.err"; then
    status=1
    {
      echo "### Offline plan: \`$stack\` does not plan"
      echo
      echo '```'
      head -c "$per_stack" "$out/head-$stack.err"
      echo '```'
      echo
    } >> "$comment"
    continue
  fi
  note=""
  if [ -f "$worktree/stacks/Pulumi.$stack.yaml" ]; then
    mapfile -t base_secrets < <(secret_args "$worktree" "$stack")
    if ! (cd "$worktree" && PYTHONPATH="$worktree" "$PY" -m infra plan --stack "$stack" \
          --out "$out/base/$stack" --quiet "${base_secrets[@]}") 2> "$out/base-$stack.err"; then
      rm -rf "$out/base/$stack"
      note="_The base commit does not plan this stack; everything shows as added._"
    fi
  else
    note="_New stack: not on the base commit._"
  fi
  diff_md="$("$PY" scripts/ci/plan_diff.py "$out/base/$stack" "$out/head/$stack" --stack "$stack" \
    --max-chars "$per_stack")"
  if [ "$diff_md" = "no changes" ]; then
    # shellcheck disable=SC2016  # literal backticks: Markdown code span
    printf '### Offline plan: `%s`\n\nno changes\n\n' "$stack" >> "$comment"
  else
    { echo "$diff_md"; [ -z "$note" ] || printf '\n%s\n' "$note"; echo; } >> "$comment"
  fi
done
cat "$comment"
exit "$status"
