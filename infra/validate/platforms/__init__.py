"""Per-platform pure rules: `place` (GPU placement) and `check` (platform problems)."""
