"""Run `vllm bench serve` in this process and record the CPU time of its measured phase.

The phase starts when vLLM's request generator (`get_request`) starts and ends when
`calculate_metrics` is called, which is the same span `smoke bench` reports as `client.cpu_s`
(first measured send to the last response), so both tools' load-generation CPU is comparable.
Usage: python benchmarks/vllm_bench_child.py CPU_JSON -- <vllm bench serve arguments>
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any


def main() -> int:
    cpu_json, separator, *bench_args = sys.argv[1:]
    if separator != "--":
        raise SystemExit(__doc__)
    from vllm.benchmarks import serve
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    marks: dict[str, float] = {}
    original_get_request = serve.get_request
    original_calculate = serve.calculate_metrics

    def get_request(*args: Any, **kwargs: Any) -> Any:
        marks["start_cpu"], marks["start_wall"] = time.process_time(), time.perf_counter()
        return original_get_request(*args, **kwargs)

    def calculate_metrics(*args: Any, **kwargs: Any) -> Any:
        marks["end_cpu"], marks["end_wall"] = time.process_time(), time.perf_counter()
        return original_calculate(*args, **kwargs)

    serve.get_request = get_request
    serve.calculate_metrics = calculate_metrics
    parser = FlexibleArgumentParser()
    serve.add_cli_args(parser)
    serve.main(parser.parse_args(bench_args))
    with open(cpu_json, "w", encoding="utf-8") as handle:
        json.dump({"load_cpu_s": marks["end_cpu"] - marks["start_cpu"],
                   "load_wall_s": marks["end_wall"] - marks["start_wall"],
                   "process_cpu_s": time.process_time()}, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
