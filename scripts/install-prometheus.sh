#!/usr/bin/env bash
# Install a real Prometheus server and promtool (Debian's `prometheus` package) for the
# observability tests: tests/observability/ runs `promtool check rules` / `promtool test rules`
# on the generated PrometheusRule and starts a loopback-only Prometheus that scrapes the local
# vLLM engine. Those tests skip with a clear reason when the binaries are missing.
#
# Usage (as root, or with sudo available): scripts/install-prometheus.sh
# Idempotent: does nothing when both binaries are already on PATH. Debian 12 (bookworm) ships
# Prometheus 2.42, which has everything the rules use (absent_over_time, histogram_quantile).
# The package's systemd units are not needed (and do not start in containers); the tests run
# their own Prometheus on 127.0.0.1 with a temporary data directory.
set -euo pipefail

if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
  echo "prometheus and promtool already installed: $(prometheus --version 2>&1 | head -n1)"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# --no-install-recommends: the node exporter and its collectors are recommends we do not need.
$SUDO apt-get install -y -qq --no-install-recommends prometheus

prometheus --version 2>&1 | head -n1
promtool --version 2>&1 | head -n1
