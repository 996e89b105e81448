#!/usr/bin/env bash
# Vendor HyperPod's dependency Helm chart (not published to any Helm repository) at a pinned
# commit of aws/sagemaker-hyperpod-cli, where platform hyperpod expects it:
#
#   scripts/vendor-hyperpod-chart.sh [--commit SHA] [--dest DIR] [--dry-run]
#
# Default: the commit below into vendor/sagemaker-hyperpod-cli (the default of
# `hyperpod.dependency_chart_path` is DIR/helm_chart/HyperPodHelmChart). Run it once before
# `pulumi up` of a hyperpod stack; `pulumi preview` works without it (the release is skipped
# with a warning). The chart's remote dependencies (cert-manager, NVIDIA and EFA device
# plugins, ...) are pinned by version in its Chart.yaml and fetched by `pulumi up` itself
# (the release sets dependency_update). --dry-run prints the commands without running them.
set -euo pipefail

# HYPERPOD_CLI_REPO_URL overrides the source (a mirror).
REPO_URL="${HYPERPOD_CLI_REPO_URL:-https://github.com/aws/sagemaker-hyperpod-cli.git}"
# aws/sagemaker-hyperpod-cli main, 2026-06-22 ("Add space getting-started reference (#432)");
# helm_chart/HyperPodHelmChart is hyperpod-helm-chart 0.1.0.
PINNED_COMMIT="011ca927123e02b35a399935bbb3ab1905fe33c7"
CHART_SUBDIR="helm_chart/HyperPodHelmChart"

usage() {
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
}

commit="$PINNED_COMMIT"
dest="vendor/sagemaker-hyperpod-cli"
dry_run=0
while [ "$#" -gt 0 ]; do
  case "$1" in
    --commit)
      [ "$#" -ge 2 ] || { echo "error: --commit needs a value" >&2; exit 2; }
      commit="$2"; shift 2 ;;
    --dest)
      [ "$#" -ge 2 ] || { echo "error: --dest needs a value" >&2; exit 2; }
      dest="$2"; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
if ! [[ "$commit" =~ ^[0-9a-f]{40}$ ]]; then
  echo "error: --commit must be a full 40-character commit SHA (got '$commit'): a branch or" \
       "tag can move, a reviewed commit cannot" >&2
  exit 2
fi

# From the repository root, so the default DIR matches the stack config's default path.
cd "$(dirname "$0")/.."

run() {
  if [ "$dry_run" = 1 ]; then printf '+'; printf ' %q' "$@"; printf '\n'; else "$@"; fi
}

if [ -d "$dest/.git" ]; then
  have="$(git -C "$dest" rev-parse HEAD 2>/dev/null || true)"
  if [ "$have" = "$commit" ]; then
    echo "$dest is already at $commit"
    exit 0
  fi
  echo "error: $dest holds commit ${have:-none}, not $commit; remove it first" >&2
  exit 1
elif [ -e "$dest" ]; then
  echo "error: $dest exists and is not a git checkout; remove it first" >&2
  exit 1
fi

run git init --quiet "$dest"
run git -C "$dest" fetch --quiet --depth 1 "$REPO_URL" "$commit"
run git -C "$dest" -c advice.detachedHead=false checkout --quiet FETCH_HEAD
if [ "$dry_run" = 0 ] && [ ! -f "$dest/$CHART_SUBDIR/Chart.yaml" ]; then
  echo "error: $dest/$CHART_SUBDIR/Chart.yaml not found at $commit" >&2
  exit 1
fi
if [ "$dry_run" = 1 ]; then echo "(dry run: nothing fetched)"; exit 0; fi
echo "Vendored $REPO_URL@$commit; chart: $dest/$CHART_SUBDIR"
