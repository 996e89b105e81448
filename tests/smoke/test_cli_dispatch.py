"""`python -m smoke`: a command imports only its own module (charts never break check)."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import ROOT


def test_check_does_not_import_the_charting_or_benchmark_modules() -> None:
    code = ("import sys; from smoke.__main__ import build_parser; build_parser('check'); "
            "print(sorted(m for m in sys.modules if m in "
            "('matplotlib', 'smoke.compare', 'smoke.bench', 'smoke.check')))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, check=True, timeout=60)
    assert proc.stdout.strip() == "['smoke.check']"


def test_unknown_command_is_a_usage_error() -> None:
    proc = subprocess.run([sys.executable, "-m", "smoke", "chek"], cwd=ROOT, capture_output=True,
                          text=True, check=False, timeout=60)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr
