"""Format validators for free-text config values that end up in argv, env, URLs or names.

A value that passes here renders into a command, object or URL the consumer accepts; a value
that fails is refused at preview with a message naming what is allowed. Each validator returns
the value or raises ValueError; the `Annotated` aliases attach them to model fields.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Annotated

from pydantic import AfterValidator

from components import engines
from components.gpu_catalog import GPUS, lookup_gpu

_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN = re.compile(rf"^{_DNS_LABEL}(\.{_DNS_LABEL})*$")
_HOST_ANY_CASE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*"
                            r"[A-Za-z0-9])?)*$")
# Hugging Face repo ids: [namespace/]name, letters, digits, '-', '_', '.', at most 96 characters.
_MODEL_SEGMENT = r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?"
_MODEL_ID = re.compile(rf"^({_MODEL_SEGMENT}/)?{_MODEL_SEGMENT}$")
_SERVED_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._:/-]*[A-Za-z0-9])?$")
_REVISION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")
_PARSER = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_PATH = re.compile(r"^/[A-Za-z0-9._/+@=:-]*$")
_RELATIVE_PATH = re.compile(r"^[A-Za-z0-9._/+@=:-]+$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_S3_PREFIX = re.compile(r"^[A-Za-z0-9._/=+-]*$")
_AWS_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$")
_AWS_ZONE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9][a-z]$")
_GCP_REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")
_GCP_ZONE = re.compile(r"^[a-z]+-[a-z]+[0-9]+-[a-z]$")
_URL = re.compile(r"^https?://(?P<host>[^/:?#\s\[\]]+|\[[0-9A-Fa-f:.]+\])(:(?P<port>[0-9]{1,5}))?"
                  r"(/[A-Za-z0-9._~/%+-]*)?$")
_REDIS_URL = re.compile(r"^rediss?://([^\s@/]+@)?(?P<host>[^/:?#\s@]+)(:(?P<port>[0-9]{1,5}))?"
                        r"(/[0-9]{1,2})?$")
_CERTIFICATE = re.compile(r"^arn:aws[a-z-]*:(acm:[a-z0-9-]+:[0-9]{12}:certificate/[A-Za-z0-9-]+|"
                          r"iam::[0-9]{12}:server-certificate/[A-Za-z0-9+=,.@_/-]+)$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_FLAG = re.compile(r"^--?[A-Za-z0-9][A-Za-z0-9_.-]*(=.*)?$", re.DOTALL)
_INSTANCE_TYPE = re.compile(r"^[a-z0-9-]+\.[a-z0-9]+$")
_ML_INSTANCE_TYPE = re.compile(r"^ml\.[a-z0-9-]+\.[a-z0-9]+$")
_GCP_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_GCP_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
_AWS_TAG = re.compile(r"^[\w .:/=+@-]*$")
# Docker reference grammar (distribution/reference): [host[:port]/]path[:tag][@digest].
_IMAGE_COMPONENT = r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*"
# A first part is a registry host only with a '.', a port or as localhost (else it is a path).
_IMAGE_HOST = (r"(localhost(:[0-9]+)?|[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+(:[0-9]+)?|"
               r"[A-Za-z0-9-]+:[0-9]+)")
_EXPANSION = re.compile(r"(?<!\$)\$\(")
_IMAGE = re.compile(
    rf"^({_IMAGE_HOST}/)?{_IMAGE_COMPONENT}(/{_IMAGE_COMPONENT})*"
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$"
)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def dns_subdomain(value: str) -> str:
    """A Kubernetes object name (Secret, PVC, RuntimeClass, ...): RFC 1123 subdomain."""
    _check(len(value) <= 253 and bool(_SUBDOMAIN.match(value)),
           "must be a Kubernetes object name: lower-case letters, digits, '-' and '.', "
           "starting and ending with a letter or digit, at most 253 characters")
    return value


def hostname(value: str) -> str:
    """A DNS name clients use (Ingress host): no scheme, port, path or wildcard."""
    _check(len(value) <= 253 and "." in value and bool(_SUBDOMAIN.match(value))
           and all(len(label) <= 63 for label in value.split(".")),
           "must be a lower-case DNS name such as llm.example.com (letters, digits, '-' and "
           "'.'; no scheme, port, path or wildcard)")
    return value


def image_reference(value: str) -> str:
    """A container image reference, pinned by a tag other than `latest` or by a digest."""
    _check(len(value) <= 255 and bool(_IMAGE.match(value)),
           "must be an image reference such as registry.example.com:5000/org/image:v1.2.3 or "
           "org/image@sha256:<64 hex> (lower-case repository path, no spaces)")
    last = value.rsplit("/", 1)[-1]
    if "@sha256:" not in value and (":" not in last or last.endswith(":latest")):
        raise ValueError("must be pinned by a tag other than latest or by a digest")
    return value


def model_id(value: str) -> str:
    """A Hugging Face style model id: `name` or `namespace/name`."""
    _check(len(value) <= 96 and ".." not in value and "--" not in value
           and bool(_MODEL_ID.match(value)),
           "must be a model id such as Qwen/Qwen3-0.6B: one or two '/'-separated parts of "
           "letters, digits, '-', '_' and '.', each starting and ending with a letter or digit, "
           "at most 96 characters")
    return value


def served_model_name(value: str) -> str:
    """The `model` clients send: one argv item, no spaces, not flag-like."""
    _check(len(value) <= 128 and bool(_SERVED_NAME.match(value)),
           "must be letters, digits and '.', '_', ':', '/', '-', starting and ending with a "
           "letter or digit, at most 128 characters")
    return value


def revision(value: str) -> str:
    """A git branch, tag or commit of a model repository."""
    _check(len(value) <= 255 and ".." not in value and "//" not in value
           and not value.endswith(("/", ".lock")) and bool(_REVISION.match(value)),
           "must be a branch, tag or commit such as main, v1.0 or a 40-character SHA (letters, "
           "digits, '.', '_', '-', '/'; no spaces or '..')")
    return value


def parser_name(value: str) -> str:
    """A registered parser name of the engine (tool-call parser)."""
    _check(len(value) <= 64 and bool(_PARSER.match(value)),
           "must be a parser name such as hermes or qwen25 (lower-case letters, digits, '_', "
           "'.', '-')")
    return value


def absolute_path(value: str) -> str:
    """An absolute path in a container or on a node: no spaces, no '..'."""
    _check(len(value) <= 1024 and bool(_PATH.match(value)) and "/../" not in f"{value}/"
           and "//" not in value,
           "must be an absolute path such as /opt/templates/chat.jinja (letters, digits and "
           "'/._+@=:-'; no spaces, '..' or '//')")
    return value


def relative_or_absolute_path(value: str) -> str:
    _check(len(value) <= 1024 and bool(_RELATIVE_PATH.match(value)),
           "must be a path of letters, digits and '/._+@=:-' (no spaces)")
    return value


def s3_bucket(value: str) -> str:
    """S3 bucket naming rules (also what S3-compatible stores accept)."""
    try:
        ipaddress.ip_address(value)
        is_ip = True
    except ValueError:
        is_ip = False
    _check(bool(_BUCKET.match(value)) and ".." not in value and ".-" not in value
           and "-." not in value and not is_ip,
           "must be an S3 bucket name: 3-63 lower-case letters, digits, '.' and '-', starting "
           "and ending with a letter or digit, not an IP address")
    return value


def s3_prefix(value: str) -> str:
    """An S3 key prefix the download step and the operator take verbatim."""
    _check(len(value) <= 1024 and bool(_S3_PREFIX.match(value)) and "//" not in value
           and ".." not in value.split("/"),
           "must be an S3 key prefix such as models/qwen3-0.6b/ (letters, digits and "
           "'._=+-/'; no spaces, '//' or '..')")
    return value


def aws_region(value: str) -> str:
    _check(bool(_AWS_REGION.match(value)), "must be an AWS region such as us-east-1")
    return value


def aws_zone(value: str) -> str:
    _check(bool(_AWS_ZONE.match(value)), "must be an AWS availability zone such as us-east-1a")
    return value


def gcp_region(value: str) -> str:
    _check(bool(_GCP_REGION.match(value)), "must be a GCP region such as us-central1")
    return value


def gcp_zone(value: str) -> str:
    _check(bool(_GCP_ZONE.match(value)), "must be a GCP zone such as us-central1-a")
    return value


def _port_ok(port: str | None) -> bool:
    return port is None or 1 <= int(port) <= 65535


def http_url(value: str) -> str:
    """An http(s) URL of a service: scheme, host, optional port and path; nothing else."""
    match = _URL.match(value)
    _check(match is not None and len(value) <= 2048 and _port_ok(match.group("port"))
           and bool(_HOST_ANY_CASE.match(match.group("host")) or match.group("host")[0] == "["),
           "must be an http(s) URL such as https://minio.local:9000 (host, optional port and "
           "path; no spaces, query or fragment)")
    return value


def redis_url(value: str) -> str:
    match = _REDIS_URL.match(value)
    _check(match is not None and _port_ok(match.group("port"))
           and bool(_HOST_ANY_CASE.match(match.group("host"))),
           "must be a Redis URL such as redis://cache.internal:6379 or rediss://host:6379/0")
    return value


def certificate_arn(value: str) -> str:
    _check(bool(_CERTIFICATE.match(value)),
           "must be an ACM certificate ARN such as arn:aws:acm:us-east-1:123456789012:"
           "certificate/<id> (or an IAM server-certificate ARN)")
    return value


def alb_group_name(value: str) -> str:
    _check(len(value) <= 63 and bool(_SUBDOMAIN.match(value)),
           "must be an IngressGroup name: lower-case letters, digits, '-' and '.', starting and "
           "ending with a letter or digit, at most 63 characters")
    return value


def instance_type(value: str) -> str:
    _check(bool(_INSTANCE_TYPE.match(value)), "must be an EC2 instance type such as m6i.large")
    return value


def ml_instance_type(value: str) -> str:
    _check(bool(_ML_INSTANCE_TYPE.match(value)),
           "must be a SageMaker instance type such as ml.g5.8xlarge")
    return value


def env_vars(value: dict[str, str]) -> dict[str, str]:
    """Container env: C identifiers, not a variable the program sets, values without NUL."""
    bad = [k for k in value if not _ENV_NAME.match(k)]
    _check(not bad, f"{', '.join(map(repr, sorted(bad)))}: env names must be letters, digits "
           "and '_', not starting with a digit")
    reserved = sorted(set(value) & engines.RESERVED_ENV)
    _check(not reserved, f"{', '.join(reserved)} set by the program (API key, HF token, S3, "
           "cache); remove them from env")
    nul = sorted(k for k, v in value.items() if "\x00" in v)
    _check(not nul, f"{', '.join(nul)}: env values may not contain NUL characters")
    return value


def engine_flags(value: list[str]) -> list[str]:
    """extra_args: argv items for the engine, flags first, one item per flag or value."""
    for index, arg in enumerate(value):
        where = f"item {index} ({arg!r})"
        _check(arg != "" and arg == arg.strip() and not any(ord(c) < 32 for c in arg),
               f"{where} is empty or has leading/trailing whitespace or control characters")
        _check(not _EXPANSION.search(arg), f"{where}: Kubernetes expands $(VAR) in args; "
               "write $$( for a literal $(")
        if arg.startswith("-") and not arg.lstrip("-").replace(".", "", 1).isdigit():
            _check(bool(_FLAG.match(arg)),
                   f"{where} is not a flag: write one item per flag and value, such as "
                   "'--max-loras', '4' or '--max-loras=4' (flags: '--' then letters, digits, "
                   "'-', '_', '.')")
    if value:
        _check(value[0].startswith("-"),
               f"item 0 ({value[0]!r}) must be a flag (--name or --name=value); a value follows "
               "its flag")
    reserved = engines.reserved_in_extra_args(value)
    _check(not reserved, f"{', '.join(reserved)} is set by the program or a mapped setting "
           "(or abbreviates such a flag); use the engine_args key (max_model_len, "
           "tensor_parallel_size, ...) instead")
    return value


def k8s_labels(value: dict[str, str]) -> dict[str, str]:
    """Kubernetes label keys ([prefix/]name) and values (node labels, node selectors)."""
    for key, label in value.items():
        prefix, _, name = key.rpartition("/")
        _check((not prefix or (len(prefix) <= 253 and bool(_SUBDOMAIN.match(prefix))))
               and len(name) <= 63 and bool(_LABEL_NAME.match(name)),
               f"{key!r} is not a label key: [DNS-subdomain prefix/]name, the name at most 63 "
               "letters, digits, '-', '_', '.', starting and ending with a letter or digit")
        _check(label == "" or (len(label) <= 63 and bool(_LABEL_NAME.match(label))),
               f"value {label!r} of {key!r} is not a label value: at most 63 letters, digits, "
               "'-', '_', '.', starting and ending with a letter or digit")
    return value


def gcp_labels(value: dict[str, str]) -> dict[str, str]:
    for key, label in value.items():
        _check(bool(_GCP_LABEL_KEY.match(key)), f"{key!r} is not a GCP label key: a lower-case "
               "letter, then up to 62 lower-case letters, digits, '_' or '-'")
        _check(bool(_GCP_LABEL_VALUE.match(label)), f"value {label!r} of {key!r} is not a GCP "
               "label value: up to 63 lower-case letters, digits, '_' or '-'")
    return value


def aws_tags(value: dict[str, str]) -> dict[str, str]:
    for key, tag in value.items():
        _check(1 <= len(key) <= 128 and bool(_AWS_TAG.match(key))
               and not key.lower().startswith("aws:"),
               f"{key!r} is not an AWS tag key: 1-128 letters, digits, spaces and '_.:/=+-@', "
               "not starting with aws:")
        _check(len(tag) <= 256 and bool(_AWS_TAG.match(tag)),
               f"value {tag!r} of {key!r} is not an AWS tag value: up to 256 letters, digits, "
               "spaces and '_.:/=+-@'")
    return value


def no_whitespace(value: str) -> str:
    """A token (e.g. the Hugging Face token): no spaces or line breaks."""
    _check(value != "" and not any(c.isspace() for c in value),
           "must be one token without spaces or line breaks (a trailing newline from a file?)")
    return value


def _each(check: Callable[[str], str]) -> Callable[[list[str]], list[str]]:
    def run(values: list[str]) -> list[str]:
        for value in values:
            check(value)
        return values
    return run


def gpu_capacity(value: dict[str, int]) -> dict[str, int]:
    """{GPU model: count}: models from the GPU catalog (canonical names), counts >= 1."""
    result = {}
    for name, count in value.items():
        gpu = lookup_gpu(name)
        _check(gpu is not None, f"{name!r} is not in the GPU catalog; known: "
               f"{', '.join(sorted(GPUS))}")
        _check(count >= 1, f"{name}: {count} GPUs; give at least 1")
        assert gpu is not None
        result[gpu.name] = count
    return result


DnsSubdomain = Annotated[str, AfterValidator(dns_subdomain)]
Hostname = Annotated[str, AfterValidator(hostname)]
ImageReference = Annotated[str, AfterValidator(image_reference)]
ModelId = Annotated[str, AfterValidator(model_id)]
ServedModelName = Annotated[str, AfterValidator(served_model_name)]
Revision = Annotated[str, AfterValidator(revision)]
ParserName = Annotated[str, AfterValidator(parser_name)]
AbsolutePath = Annotated[str, AfterValidator(absolute_path)]
RelativeOrAbsolutePath = Annotated[str, AfterValidator(relative_or_absolute_path)]
ChartPath = RelativeOrAbsolutePath
S3Bucket = Annotated[str, AfterValidator(s3_bucket)]
S3Prefix = Annotated[str, AfterValidator(s3_prefix)]
AwsRegion = Annotated[str, AfterValidator(aws_region)]
AwsZones = Annotated[list[str], AfterValidator(_each(aws_zone))]
GcpRegion = Annotated[str, AfterValidator(gcp_region)]
GcpZone = Annotated[str, AfterValidator(gcp_zone)]
HttpUrl = Annotated[str, AfterValidator(http_url)]
RedisUrl = Annotated[str, AfterValidator(redis_url)]
CertificateArn = Annotated[str, AfterValidator(certificate_arn)]
AlbGroupName = Annotated[str, AfterValidator(alb_group_name)]
InstanceType = Annotated[str, AfterValidator(instance_type)]
MlInstanceType = Annotated[str, AfterValidator(ml_instance_type)]
EnvVars = Annotated[dict[str, str], AfterValidator(env_vars)]
EngineFlags = Annotated[list[str], AfterValidator(engine_flags)]
K8sLabels = Annotated[dict[str, str], AfterValidator(k8s_labels)]
GcpLabels = Annotated[dict[str, str], AfterValidator(gcp_labels)]
AwsTags = Annotated[dict[str, str], AfterValidator(aws_tags)]
Token = Annotated[str, AfterValidator(no_whitespace)]
GpuCapacity = Annotated[dict[str, int], AfterValidator(gpu_capacity)]
