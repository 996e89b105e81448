"""Contract-test harness: check rendered objects against the real parsers and schemas.

Unit tests of the program can only say "we produced what we meant to". These helpers say
"the thing that consumes it accepts it": vLLM's and SGLang's own CLI parsers, the Kubernetes
OpenAPI schemas shipped by `kubernetes-validate`, and the HyperPod operator's CRD schema.
Every failure is an AssertionError whose message names the offending flag/field, so pytest
shows it directly (argparse would otherwise print usage and raise SystemExit).

vLLM and SGLang imports are lazy: importing vLLM takes ~7 s, and tests that only need the
schema validators must not pay for it or need the engines installed.
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn

import jsonschema
import yaml

# --- engine CLIs -----------------------------------------------------------------------------


class _Raise:
    """Mixin: argparse reports problems via error()/exit(), which print and SystemExit."""

    engine = "engine"

    def error(self, message: str) -> NoReturn:
        raise AssertionError(f"{self.engine} rejects the args: {message}")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise AssertionError(f"{self.engine} parser exited ({status}): {message or ''}".strip())


def _option_name(token: str) -> str:
    # "--limit-mm-per-prompt.image=2" -> "--limit-mm-per-prompt"; vLLM also takes "_" for "-".
    return token.split("=", 1)[0].split(".", 1)[0].replace("_", "-")


def _check_full_option_names(
    parser: argparse.ArgumentParser, argv: list[str], engine: str
) -> None:
    """Reject abbreviated flags. argparse accepts any unique prefix (`--max-model` works
    today), but a later engine release adding a flag with the same prefix turns it into an
    error or, worse, a different flag. Rendered args must spell flags in full."""
    known = set(parser._option_string_actions)
    for token in argv:
        if token.startswith("--") and len(token) > 2 and _option_name(token) not in known:
            raise AssertionError(
                f"{engine}: {token.split('=', 1)[0]!r} is not a full flag name (argparse "
                "would accept it as an abbreviation or reject it); spell flags in full"
            )


@functools.cache
def _vllm_parser_class() -> type:
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    class _VllmParser(_Raise, FlexibleArgumentParser):
        engine = "vLLM"

    return _VllmParser


def parse_vllm_argv(argv: list[str], *, check_serve_args: bool = True) -> argparse.Namespace:
    """Parse engine container args (after the executable) with vLLM's serve/api_server parser.

    vLLM 0.32 moved the parser to `vllm.entrypoints.launchers.cli_args.make_arg_parser`
    (`vllm.entrypoints.openai.cli_args` no longer exists); both `vllm serve` and
    `python -m vllm.entrypoints.openai.api_server` build it on a FlexibleArgumentParser.
    Beyond argparse this also rejects, as AssertionError:
      * abbreviated flags (see _check_full_option_names);
      * any positional argument: `--enable-prefix-caching true` parses "true" as the
        positional model tag, which `vllm serve` then uses INSTEAD of --model, and the
        api_server entry point silently ignores (serving its default model);
      * a --tool-call-parser or --load-format name vLLM does not register (the parser takes
        any string there and fails only at start-up);
      * what vLLM's own pre-start check (validate_parsed_serve_args) rejects, e.g.
        --enable-auto-tool-choice without --tool-call-parser. The chat template is checked
        only for being set: its path exists in the container, not here.
    """
    from vllm.entrypoints.launchers.cli_args import make_arg_parser, validate_parsed_serve_args

    argv = [str(a) for a in argv]
    parser = make_arg_parser(_vllm_parser_class()(prog="vllm serve"))
    _check_full_option_names(parser, argv, "vLLM")
    args = parser.parse_args(argv)
    if args.model_tag is not None:
        raise AssertionError(
            f"vLLM: stray positional argument {args.model_tag!r}: `vllm serve` would serve it "
            "as the model (a boolean flag followed by a value does this); pass --model instead"
        )
    _check_vllm_registries(args)
    if check_serve_args:
        checked = copy.copy(args)
        checked.chat_template = None  # a path inside the image; cannot exist on this machine
        try:
            validate_parsed_serve_args(checked)
        except (TypeError, ValueError) as exc:
            raise AssertionError(f"vLLM serve-args check: {exc}") from exc
    return args


def _check_vllm_registries(args: argparse.Namespace) -> None:
    from vllm.model_executor.model_loader import _LOAD_FORMAT_TO_MODEL_LOADER
    from vllm.tool_parsers import ToolParserManager

    parser_name = args.tool_call_parser
    if parser_name is not None and parser_name not in ToolParserManager.list_registered():
        raise AssertionError(
            f"vLLM: --tool-call-parser {parser_name!r} is not a registered parser; known: "
            f"{', '.join(ToolParserManager.list_registered())}"
        )
    if args.load_format not in _LOAD_FORMAT_TO_MODEL_LOADER:
        raise AssertionError(
            f"vLLM: --load-format {args.load_format!r} is unknown; known: "
            f"{', '.join(sorted(_LOAD_FORMAT_TO_MODEL_LOADER))}"
        )


@functools.cache
def _sglang_parser_class() -> type:
    class _SglangParser(_Raise, argparse.ArgumentParser):
        engine = "SGLang"

    return _SglangParser


def parse_sglang_argv(argv: list[str]) -> argparse.Namespace:
    """Parse engine container args with SGLang's server parser, built the way
    `sglang.srt.server_args.prepare_server_args` builds it (plain argparse + add_cli_args).

    Only parsing: ServerArgs.__post_init__ inspects the GPU and is not run here. SGLang's
    --tool-call-parser and --reasoning-parser have argparse choices, so bad names fail here.
    """
    from sglang.srt.server_args import ServerArgs

    argv = [str(a) for a in argv]
    parser = _sglang_parser_class()(prog="sglang serve")
    ServerArgs.add_cli_args(parser)
    _check_full_option_names(parser, argv, "SGLang")
    return parser.parse_args(argv)


# --- router CLIs -----------------------------------------------------------------------------

# Both routers build their parser the same way: RouterArgs.add_cli_args on a plain argparse
# parser, then RouterArgs.from_cli_args (vllm-router 0.1.17, smg 1.13.0).
ROUTER_ARGS_MODULES = {"vllm-router": "vllm_router.router_args", "smg": "smg.router_args"}
ROUTER_COMMANDS = {"vllm-router": ("vllm-router",), "smg": ("python3", "-m", "smg.launch_router")}


def router_kind(command: list[str]) -> str | None:
    """The router kind a container command starts, or None."""
    return next((k for k, c in ROUTER_COMMANDS.items() if tuple(command) == c), None)


def parse_router_argv(kind: str, argv: list[str]) -> Any:
    """Parse router container args with the router's own parser; return its RouterArgs.

    `$(VAR)` references (Kubernetes expands them from the container env, e.g. the API key) are
    replaced by a placeholder first. Abbreviated flags are rejected as for the engines. For smg
    this also runs what `smg.launch_router` runs before starting: discovery turns on its
    multi-model mode, then `_validate_router_args` (ValueError -> AssertionError).
    """
    import importlib

    module = importlib.import_module(ROUTER_ARGS_MODULES[kind])
    parser_class = type("_RouterParser", (_Raise, argparse.ArgumentParser), {"engine": kind})
    parser = parser_class(prog=kind)
    module.RouterArgs.add_cli_args(parser, use_router_prefix=False)
    argv = [re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", "placeholder-\\1", str(a)) for a in argv]
    _check_full_option_names(parser, argv, kind)
    args = module.RouterArgs.from_cli_args(parser.parse_args(argv), use_router_prefix=False)
    if kind == "smg":
        try:
            if args.selected_discovery_provider():
                args.enable_igw = True
            args._validate_router_args()
        except ValueError as exc:
            raise AssertionError(f"smg rejects the args: {exc}") from exc
    return args


# --- Kubernetes manifests --------------------------------------------------------------------

_LABEL_PART = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL = re.compile(rf"^{_LABEL_PART}$")
_DNS1123_SUBDOMAIN = re.compile(rf"^{_LABEL_PART}(\.{_LABEL_PART})*$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_QUANTITY = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?\d+)?$")
# Object names the API server validates as labels rather than subdomains.
_LABEL_NAMED_KINDS = {"Namespace"}
_DNS1035_NAMED_KINDS = {"Service"}
_HYPERPOD_GROUP = "inference.sagemaker.aws.amazon.com"


def _schema_versions() -> list[tuple[int, int]]:
    root = resources.files("kubernetes_validate").joinpath("kubernetes-json-schema")
    found = set()
    for entry in root.iterdir():
        match = re.match(r"^v(\d+)\.(\d+)\.\d+-local-strict$", entry.name)
        if match:
            found.add((int(match.group(1)), int(match.group(2))))
    return sorted(found)


def k8s_schema_version(kubernetes_version: str) -> str:
    """The schema version kubernetes-validate ships that is closest to the cluster's:
    the same minor if shipped, else the newest older one, else the oldest shipped."""
    match = re.match(r"^v?(\d+)\.(\d+)", kubernetes_version.strip())
    if not match:
        raise ValueError(f"not a Kubernetes version: {kubernetes_version!r}")
    wanted = (int(match.group(1)), int(match.group(2)))
    versions = _schema_versions()
    older = [v for v in versions if v <= wanted]
    chosen = older[-1] if older else versions[0]
    return f"{chosen[0]}.{chosen[1]}.0"


@functools.cache
def _k8s_definitions(version: str) -> Any:
    from referencing import Registry, Resource

    path = f"kubernetes-json-schema/v{version}-local-strict/_definitions.json"
    definitions = json.loads(resources.files("kubernetes_validate").joinpath(path).read_text())
    return Resource.from_contents(definitions) @ Registry()


def _k8s_schema(version: str, obj: dict[str, Any]) -> dict[str, Any] | None:
    # Same file naming as kubernetes_validate.validate: "<kind>-<group prefix>-<version>.json".
    api_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", str(obj.get("apiVersion", "")))
    name = f"{str(obj.get('kind', '')).lower()}-{api_version}.json"
    path = resources.files("kubernetes_validate").joinpath(
        f"kubernetes-json-schema/v{version}-local-strict/{name}"
    )
    return json.loads(path.read_text()) if path.is_file() else None


def _path(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "<root>"


def validate_k8s_manifest(
    obj: dict[str, Any], kubernetes_version: str, *, allow_unknown_kinds: bool = False
) -> None:
    """`kubernetes-validate --strict` semantics (unknown fields are errors), with ALL errors.

    The library API stops at the first error, so this loads the same strict schemas itself.
    Additionally checks what the OpenAPI schemas leave to the API server: object name
    format/length, label syntax and resource quantities. InferenceEndpointConfig objects
    go to validate_inference_endpoint_config; other custom resources raise unless
    allow_unknown_kinds (no schema is shipped for them).
    """
    if str(obj.get("apiVersion", "")).startswith(_HYPERPOD_GROUP + "/"):
        validate_inference_endpoint_config(obj)
        return
    version = k8s_schema_version(kubernetes_version)
    schema = _k8s_schema(version, obj)
    if schema is None:
        if allow_unknown_kinds:
            return
        raise AssertionError(
            f"no Kubernetes {version} schema for kind {obj.get('kind')!r} apiVersion "
            f"{obj.get('apiVersion')!r} (a custom resource, a typo, or an API removed by then)"
        )
    validator = jsonschema.Draft202012Validator(schema, registry=_k8s_definitions(version))
    errors = [f"{_path(e)}: {e.message}" for e in validator.iter_errors(obj)]
    errors += _api_server_checks(obj)
    if errors:
        raise AssertionError(
            f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')} is invalid for "
            f"Kubernetes {version} (strict):\n  " + "\n  ".join(sorted(errors))
        )


def _api_server_checks(obj: dict[str, Any]) -> list[str]:
    errors = _metadata_errors(obj.get("metadata") or {}, str(obj.get("kind", "")), "metadata")
    template = ((obj.get("spec") or {}).get("template") or {}).get("metadata")
    if isinstance(template, dict):
        errors += _label_errors(template.get("labels"), "spec.template.metadata.labels")
    errors += _quantity_errors(obj, "")
    return errors


def _metadata_errors(metadata: dict[str, Any], kind: str, where: str) -> list[str]:
    errors = []
    name = metadata.get("name")
    if not name and not metadata.get("generateName"):
        errors.append(f"{where}.name: required")
    elif name:
        name = str(name)
        if kind in _DNS1035_NAMED_KINDS:
            pattern, limit, rule = _DNS1035_LABEL, 63, "an RFC 1035 label"
        elif kind in _LABEL_NAMED_KINDS:
            pattern, limit, rule = _DNS1123_LABEL, 63, "an RFC 1123 label"
        else:
            pattern, limit, rule = _DNS1123_SUBDOMAIN, 253, "an RFC 1123 subdomain"
        if len(name) > limit or not pattern.match(name):
            errors.append(f"{where}.name: {name!r} must be {rule} of at most {limit} characters")
    namespace = metadata.get("namespace")
    if namespace is not None and (
        len(str(namespace)) > 63 or not _DNS1123_LABEL.match(str(namespace))
    ):
        errors.append(f"{where}.namespace: {namespace!r} must be an RFC 1123 label (<= 63)")
    errors += _label_errors(metadata.get("labels"), f"{where}.labels")
    return errors


def _label_errors(labels: Any, where: str) -> list[str]:
    errors = []
    for key, value in (labels or {}).items():
        prefix, _, name = str(key).rpartition("/")
        if prefix and (len(prefix) > 253 or not _DNS1123_SUBDOMAIN.match(prefix)):
            errors.append(f"{where}: key {key!r} has an invalid prefix")
        if not name or len(name) > 63 or not _LABEL_VALUE.match(name):
            errors.append(f"{where}: key {key!r} is not a valid label name")
        if len(str(value)) > 63 or not _LABEL_VALUE.match(str(value)):
            errors.append(f"{where}: value {value!r} of {key!r} is not a valid label value")
    return errors


def _quantity_errors(node: Any, where: str) -> list[str]:
    # The schemas type Quantity as any string; "24GB" or "1.5 Gi" only fail at apply time.
    errors = []
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{where}.{key}" if where else str(key)
            if key in ("requests", "limits") and isinstance(value, dict) and "resources" in where:
                for res, qty in value.items():
                    if not _QUANTITY.match(str(qty)):
                        errors.append(f"{here}.{res}: {qty!r} is not a Kubernetes quantity")
            elif key == "sizeLimit" and not _QUANTITY.match(str(value)):
                errors.append(f"{here}: {value!r} is not a Kubernetes quantity")
            else:
                errors += _quantity_errors(value, here)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            errors += _quantity_errors(item, f"{where}.{i}")
    return errors


# --- HyperPod InferenceEndpointConfig --------------------------------------------------------


# The operator's CRD, vendored with its provenance in tests/schemas/README.md.
SCHEMAS_DIR = Path(__file__).resolve().parents[1] / "schemas"


def _strict(schema: Any) -> Any:
    """Make unknown fields errors, as the API server's pruning would silently drop them."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@functools.cache
def _iec_validator() -> jsonschema.Draft202012Validator:
    path = SCHEMAS_DIR / "inferenceendpointconfigs.crd.yaml"
    crd = yaml.safe_load(path.read_text())
    (v1,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    return jsonschema.Draft202012Validator(_strict(v1["schema"]["openAPIV3Schema"]))


def validate_inference_endpoint_config(obj: dict[str, Any]) -> None:
    """Strict check of an InferenceEndpointConfig against the CRD's v1 openAPIV3Schema."""
    errors = [f"{_path(e)}: {e.message}" for e in _iec_validator().iter_errors(obj)]
    if obj.get("apiVersion") != f"{_HYPERPOD_GROUP}/v1":
        errors.append(f"apiVersion: {obj.get('apiVersion')!r} must be '{_HYPERPOD_GROUP}/v1'")
    if obj.get("kind") != "InferenceEndpointConfig":
        errors.append(f"kind: {obj.get('kind')!r} must be 'InferenceEndpointConfig'")
    errors += _metadata_errors(obj.get("metadata") or {}, "InferenceEndpointConfig", "metadata")
    if errors:
        raise AssertionError(
            f"InferenceEndpointConfig/{(obj.get('metadata') or {}).get('name')} is invalid:\n  "
            + "\n  ".join(sorted(errors))
        )
