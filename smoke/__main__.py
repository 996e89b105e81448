"""`python -m smoke <command>`: smoke checks, the local engine, benchmarks and comparisons.

Each command lives in its own module exposing `add_arguments(parser)` and `run(args) -> int`;
modules are imported only when their command runs, so `check` never pays for the charting stack.
Exit codes: 0 success, 1 a check or SLO failed, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from smoke.outputs import OutputsError

# command name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("smoke.check", "run smoke checks against the endpoints in stack outputs"),
    "serve-local": ("smoke.local", "start a real local vLLM engine and write its outputs file"),
    "bench": ("smoke.bench", "benchmark the endpoints in stack outputs"),
    "compare": ("smoke.compare", "compare benchmark result files (table, charts, HTML)"),
    "batch": ("smoke.batch", "check a batch job's progress and, once finished, its results"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The CLI; only `command`'s module is imported (and only it gets its arguments)."""
    parser = argparse.ArgumentParser(prog="python -m smoke", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            module = importlib.import_module(module_name)
            module.add_arguments(command_parser)
            command_parser.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(command if command in COMMANDS else None).parse_args(argv)
    try:
        return int(args._run(args))
    except OutputsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
