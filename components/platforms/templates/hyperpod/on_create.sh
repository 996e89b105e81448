#!/bin/bash
# HyperPod (EKS orchestrator) lifecycle script: HyperPod runs `OnCreate` once on every new
# instance of every group, including replacements made by node recovery (Automatic), so it must
# be idempotent. Uploaded by inference-stacks to the lifecycle bucket the stack owns; the
# instance execution role reads it (AmazonSageMakerClusterInstanceRolePolicy only covers
# sagemaker-* buckets). On EKS-orchestrated clusters HyperPod itself joins the node to the
# cluster; node software (device plugins, CSI drivers, the inference operator) comes from
# Kubernetes (the dependency chart and EKS add-ons), not from this script, so it only records
# provisioning for troubleshooting.
set -euo pipefail

LOG_DIR=/var/log/provision
mkdir -p "$LOG_DIR"
exec > >(tee -a "$LOG_DIR/provisioning.log") 2>&1

echo "[inference-stacks] on_create $(date -u +%FT%TZ) host=$(hostname)"
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
fi
echo "[inference-stacks] on_create done"
