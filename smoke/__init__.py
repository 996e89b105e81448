"""Post-deploy smoke checks and benchmarks that read stack outputs (contract v1)."""
