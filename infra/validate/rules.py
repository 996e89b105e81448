"""Cross-field rules over the whole stack, each reported at the key path it concerns.

One place for every rule that spans fields, catalogs or the platform, so no rule hides in a
component: names and budgets (R13, R14), engine support for settings (R8), GPU count vs tensor
parallel size, GPU placement (R3, R25), dtype vs compute capability (R4), and the memory fit
(R9). Platform-specific rules come from the platform's own `check`.
"""

from __future__ import annotations

from components import engines, names
from components.gpu_catalog import default_dtype
from components.model_catalog import check_memory_fit, exceeds_native_context, is_gated
from components.router_manifests import DEFAULT_PROMETHEUS_PORT
from infra.config.base import NAMESPACE, Problem, key_path
from infra.config.endpoint import EndpointConfig, HuggingFaceSource, S3Source
from infra.config.stack import HyperPodStack, StackConfig
from infra.validate.engine_queue import check_engine_queue
from infra.validate.placement import Placement, PlacementError
from infra.validate.platforms.hyperpod import dependency_chart_dir, missing_chart_message
from infra.validate.registry import OPTIONAL_FEATURES, PLATFORMS, PlatformRules
from infra.validate.sizing import model_facts


def _at(index: int, *parts: str | int) -> str:
    return f"{NAMESPACE}:" + key_path("endpoints", index, *parts)


def check_stack(config: StackConfig, spec: PlatformRules) -> list[Problem]:
    """Every cross-field problem of the stack, endpoint by endpoint, then the platform's."""
    problems = check_identities(config) + check_router_ports(config) + check_engine_queue(config)
    for index, endpoint in enumerate(config.endpoints):
        problems += check_endpoint(index, endpoint, config.hf_token is not None,
                                   spec.name_budget(endpoint))
        try:
            placement = spec.place(endpoint, config.platform_settings)
        except PlacementError as exc:
            problems.append(Problem(_at(index, *exc.field_path.split(".")), str(exc)))
            continue
        problems += check_gpu_fit(index, endpoint, placement)
    return problems + _platform_features(config, spec) + spec.check(config)


def check_identities(config: StackConfig) -> list[Problem]:
    """Endpoint names are unique in the stack, whatever the namespace: outputs are keyed by
    name and so are Pulumi resource names (URNs); and no endpoint is named like an object the
    program derives from another endpoint's name (`x-router`, `x-api-key`, `x-nlb`, ...)."""
    problems = []
    first: dict[str, int] = {}
    others = [e.name for e in config.endpoints] + [j.name for j in config.batch_jobs]
    for index, endpoint in enumerate(config.endpoints):
        name = endpoint.name
        if name in first:
            problems.append(Problem(_at(index, "name"), (
                f"{name!r} is used twice (also endpoints[{first[name]}]); endpoint names must "
                "be unique in the stack, whatever the namespace: outputs and Pulumi resource "
                "names are keyed by them")))
            continue
        first[name] = index
        derived = names.derived_from(name, others)
        if derived is not None:
            problems.append(Problem(_at(index, "name"), (
                f"{name!r} is the name the program gives the {derived[1]!r} objects of "
                f"{derived[0]!r} (an endpoint or batch job of this stack); rename one")))
    return problems


def check_router_ports(config: StackConfig) -> list[Problem]:
    """Router metrics ports: distinct among the stack's routers (they may share a host) and
    not the router's own HTTP port (the endpoint's engine port, R6)."""
    problems = []
    seen: dict[int, int] = {}
    routed = [(i, e) for i, e in enumerate(config.endpoints) if e.router is not None]
    for position, (index, endpoint) in enumerate(routed):
        assert endpoint.router is not None
        explicit = endpoint.router.prometheus_port
        port = explicit if explicit is not None else DEFAULT_PROMETHEUS_PORT + position
        profile = engines.engine_profile(endpoint.engine, endpoint.profile)
        where = _at(index, "router", "prometheus_port")
        if profile is not None and port == profile.port:
            problems.append(Problem(where, f"{port} is also the router's HTTP port (the "
                                    f"{endpoint.engine} port, R6); pick another"))
        elif port in seen:
            problems.append(Problem(where, f"{port} is also the metrics port of the router of "
                                    f"endpoints[{seen[port]}]; routers that share a host "
                                    "need their own (omit it for 29000 + position)"))
        seen.setdefault(port, index)
    return problems


def _platform_features(config: StackConfig, spec: PlatformRules) -> list[Problem]:
    """Optional endpoint settings the stack's platform does not implement."""
    problems = []
    for index, endpoint in enumerate(config.endpoints):
        for feature in OPTIONAL_FEATURES:
            if getattr(endpoint, feature, None) is None or feature in spec.features:
                continue
            where = ", ".join(sorted(n for n, p in PLATFORMS.items() if feature in p.features))
            problems.append(Problem(_at(index, feature),
                                    f"only platform {where} implements {feature}; remove it"))
    return problems


def check_endpoint(index: int, endpoint: EndpointConfig, has_hf_token: bool,
                   budget: names.NameBudget | None = None) -> list[Problem]:
    """Rules within one endpoint that need more than one field. `budget` is the platform's
    name budget (R13), so one name problem is one line with the budget that applies."""
    problems = [
        Problem(_at(index, "name"), text)
        for text in names.check_name(endpoint.name, budget or names.default_budget(), "name",
                                     service=True)
    ]
    problems += [
        Problem(_at(index, "namespace"), text)
        for text in names.check_name(endpoint.namespace, names.DNS_LABEL_MAX, "namespace")
    ]
    if engines.engine_profile(endpoint.engine, endpoint.profile) is None:
        known = sorted(p for e, p in engines.ENGINE_PROFILES if e == endpoint.engine)
        problems.append(Problem(
            _at(index, "profile"),
            f"{endpoint.profile!r} has no {endpoint.engine} image profile; allowed: {known}",
        ))
    settings = endpoint.engine_args.model_dump()
    for setting, reason in engines.unsupported_settings(endpoint.engine, settings):
        problems.append(Problem(_at(index, "engine_args", setting), reason + " (R8)"))
    if endpoint.gpu.count != endpoint.engine_args.tensor_parallel_size:
        problems.append(Problem(
            _at(index, "gpu", "count"),
            f"{endpoint.gpu.count} GPUs per replica but engine_args.tensor_parallel_size is "
            f"{endpoint.engine_args.tensor_parallel_size}; they must be equal",
        ))
    if isinstance(endpoint.source, S3Source) and endpoint.source.stream and (
        endpoint.engine != "vllm"
    ):
        problems.append(Problem(_at(index, "source", "stream"), "streaming from S3 is vLLM only"))
    if endpoint.kv_cache is not None and endpoint.engine != "vllm":
        problems.append(Problem(
            _at(index, "kv_cache"),
            f"KV cache tiers can only be configured for vLLM, not {endpoint.engine} (R10)",
        ))
    if endpoint.kv_cache is not None and endpoint.engine_args.enable_prefix_caching:
        problems.append(Problem(
            _at(index, "engine_args", "enable_prefix_caching"),
            "true together with kv_cache; the operator manages prefix caching when KV cache "
            "tiers are on, remove it (R11)",
        ))
    source = endpoint.source
    if isinstance(source, HuggingFaceSource) and source.use_token and not has_hf_token:
        problems.append(Problem(
            _at(index, "source", "use_token"),
            f"true, but {NAMESPACE}:hf_token is not set "
            "(`pulumi config set --secret hf_token <token>`)",
        ))
    elif isinstance(source, HuggingFaceSource) and is_gated(endpoint.model):
        if source.use_token is False:
            problems.append(Problem(
                _at(index, "source", "use_token"),
                f"false, but {endpoint.model} is gated on Hugging Face and cannot be "
                "downloaded without a token"))
        elif not has_hf_token:
            problems.append(Problem(
                _at(index, "model"),
                f"{endpoint.model} is gated on Hugging Face, and {NAMESPACE}:hf_token is not "
                "set: `pulumi config set --secret hf_token <token of an account that accepted "
                "the model's license>`"))
    if endpoint.exposure.scheme == "internet-facing" and not endpoint.api_key:
        problems.append(Problem(
            _at(index, "api_key"), "false, but internet-facing exposure needs an API key (R24)"
        ))
    return problems


def check_gpu_fit(index: int, endpoint: EndpointConfig, placement: Placement) -> list[Problem]:
    """R4 dtype vs GPU and R9 weights + one max-length sequence of KV cache vs GPU memory."""
    gpu = placement.gpu
    if gpu is None:
        return []
    problems = []
    if endpoint.engine_args.dtype == "bfloat16" and not gpu.bf16:
        problems.append(Problem(
            _at(index, "engine_args", "dtype"),
            f"bfloat16 is not supported on {gpu.name}; use half (or leave unset: "
            f"{default_dtype(gpu)}) (R4)",
        ))
    facts = model_facts(endpoint)
    if facts is None:
        return problems
    args = endpoint.engine_args
    if exceeds_native_context(facts, args.max_model_len):
        problems.append(Problem(
            _at(index, "engine_args", "max_model_len"),
            f"{args.max_model_len} exceeds the model's native context of {facts.max_context} "
            "tokens; vLLM and SGLang refuse it",
        ))
        return problems
    fit = check_memory_fit(
        facts, args.max_model_len, gpu.memory_gib, args.gpu_memory_utilization,
        args.tensor_parallel_size,
    )
    if not fit.fits:
        if fit.max_model_len_that_fits > 0:
            advice = f"the largest max_model_len that fits is {fit.max_model_len_that_fits}"
        else:
            advice = "the weights alone do not fit: use more GPUs or a larger GPU"
        problems.append(Problem(
            _at(index, "engine_args", "max_model_len"),
            f"{args.max_model_len} does not fit: weights {fit.weights_gib:.1f} GiB + KV cache "
            f"{fit.kv_gib:.1f} GiB for one sequence = {fit.required_gib:.1f} GiB > "
            f"{fit.available_gib:.1f} GiB ({args.tensor_parallel_size} x {gpu.name} "
            f"{gpu.memory_gib} GiB x {args.gpu_memory_utilization}); {advice} (R9)",
        ))
    return problems


def stack_warnings(config: StackConfig) -> list[str]:
    """Things that are allowed but that a user should hear about, never silently."""
    warnings = []
    if isinstance(config, HyperPodStack) and dependency_chart_dir(config.platform_settings) is None:
        warnings.append(missing_chart_message(config.platform_settings))
    for index, endpoint in enumerate(config.endpoints):
        if model_facts(endpoint) is None:
            warnings.append(
                f"{_at(index, 'model')}: {endpoint.model!r} is not in the model catalog and has "
                "no model_facts; the GPU memory fit check (R9) is skipped for it"
            )
    return warnings
