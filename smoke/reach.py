"""Reach an endpoint from where smoke runs: directly, or through a Kubernetes port-forward.

R22: an internal load balancer's hostname resolved only inside the VPC, so a client outside
failed. Endpoints whose exposure is `cluster` or `internal` are reached through a port-forward to
one serving pod, made with the `kubernetes` client and the kubeconfig from the stack outputs,
unless the caller says it runs inside the network (`direct`). The shared API is `open_endpoint`.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any, Protocol
from urllib.parse import urlsplit

import yaml

from smoke.outputs import EndpointOutput, OutputsError, StackOutputs

# Kubernetes API calls: (connect, read) seconds, so a dead API server cannot hang smoke (R20).
K8S_TIMEOUT = (10, 30)


class ReachError(Exception):
    """The endpoint could not be reached (no ready pod, API server error, port-forward failed)."""


class _StreamSocket(Protocol):
    def fileno(self) -> int: ...
    def recv(self, size: int) -> bytes: ...
    def sendall(self, data: bytes) -> None: ...
    def close(self) -> None: ...


def check_base_url(endpoint: EndpointOutput) -> None:
    """OutputsError (a usage error) unless `base_url` is an http(s) URL with a host and port."""
    try:
        parsed = urlsplit(endpoint.base_url)
        parsed.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        raise OutputsError(f"endpoint {endpoint.name}: base_url is not a URL ({exc})") from None
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        # The value itself is not shown: a mangled URL may carry credentials.
        raise OutputsError(f"endpoint {endpoint.name}: base_url is not an http(s) URL with a "
                           "host")


def direct_url(outputs: StackOutputs, endpoint: EndpointOutput, direct: bool) -> str | None:
    """The endpoint's own base URL when it can be used as is, else None (port-forward needed)."""
    if direct or endpoint.exposure == "public" or outputs.platform == "local":
        return endpoint.base_url.rstrip("/")
    return None


@contextlib.contextmanager
def open_endpoint(outputs: StackOutputs, endpoint: EndpointOutput, direct: bool) -> Iterator[str]:
    """Yield a base URL (no `/v1`) for `endpoint`; tears down any port-forward on exit."""
    url = direct_url(outputs, endpoint, direct)
    if url is not None:
        yield url
        return
    if not outputs.kubeconfig:
        raise OutputsError(
            f"endpoint {endpoint.name} has exposure {endpoint.exposure!r}: reaching it needs a "
            "port-forward, but the outputs carry no kubeconfig (R22); run with --direct from "
            "inside the network instead"
        )
    if not endpoint.namespace:
        raise OutputsError(f"endpoint {endpoint.name}: no namespace in outputs to port-forward to")
    core = kube_core_api(outputs.kubeconfig)
    pod, port = resolve_target(core, endpoint)
    with TcpBridge(lambda: pod_socket(core, endpoint.namespace or "", pod, port)) as local:
        yield f"http://127.0.0.1:{local}"


def kube_core_api(kubeconfig: str) -> Any:
    """A CoreV1Api client for the kubeconfig text from the outputs (never from ~/.kube)."""
    from kubernetes import client, config  # imported lazily: only cluster endpoints need it

    try:
        doc = yaml.safe_load(kubeconfig)
        api_client = config.new_client_from_config_dict(doc, persist_config=False)
    except Exception as exc:  # the client raises many types for a bad kubeconfig
        raise OutputsError(f"kubeconfig in outputs is not usable: {type(exc).__name__}") from None
    return client.CoreV1Api(api_client)


def label_selector(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def pick_pod(pods: list[Any], where: str) -> str:
    """Name of the first running pod whose Ready condition is true, or ReachError saying why."""
    seen = []
    for pod in pods:
        phase = pod.status.phase if pod.status else None
        conditions = (pod.status.conditions or []) if pod.status else []
        ready = any(c.type == "Ready" and c.status == "True" for c in conditions)
        if phase == "Running" and ready:
            return str(pod.metadata.name)
        seen.append(f"{pod.metadata.name} ({phase}, {'ready' if ready else 'not ready'})")
    found = "; ".join(seen) if seen else "no pods at all"
    raise ReachError(f"no ready pod {where}: {found}")


def resolve_target(core: Any, endpoint: EndpointOutput) -> tuple[str, int]:
    """(pod name, pod port) behind the endpoint: selector from outputs, or from its Service."""
    return resolve_pod(core, endpoint.namespace or "", endpoint.service, endpoint.port,
                       dict(endpoint.selector), f"endpoint {endpoint.name}")


def resolve_pod(core: Any, namespace: str, service: str | None, port: int,
                selector: dict[str, str], what: str) -> tuple[str, int]:
    """(pod name, pod port) of a ready pod: `selector`, else the Service's own selector."""
    from kubernetes.client.exceptions import ApiException  # lazily, as kube_core_api

    try:
        if service:
            found = core.read_namespaced_service(service, namespace, _request_timeout=K8S_TIMEOUT)
            selector = selector or dict(found.spec.selector or {})
            port = _target_port(found, port)
        if not selector:
            raise OutputsError(f"{what}: no selector or service to find pods")
        pods = core.list_namespaced_pod(
            namespace, label_selector=label_selector(selector), _request_timeout=K8S_TIMEOUT
        ).items
    except ApiException as exc:
        raise ReachError(f"Kubernetes API: {exc.status} {exc.reason}") from None
    except OSError as exc:  # urllib3 connection errors are OSErrors
        raise ReachError(f"Kubernetes API unreachable: {type(exc).__name__}") from None
    where = f"in namespace {namespace} matches {label_selector(selector)}"
    return pick_pod(pods, where), port


@contextlib.contextmanager
def open_service(outputs: StackOutputs, url: str, namespace: str, service: str, port: int,
                 direct: bool) -> Iterator[str]:
    """Yield a URL for an in-cluster Service (the stack's Prometheus): `url` itself with
    `direct`, else a port-forward to one of its ready pods through the outputs' kubeconfig."""
    if direct:
        yield url.rstrip("/")
        return
    if not outputs.kubeconfig:
        raise OutputsError(f"Service {namespace}/{service} is in-cluster: reaching it needs a "
                           "port-forward, but the outputs carry no kubeconfig; run with "
                           "--direct from inside the network, or give its URL")
    core = kube_core_api(outputs.kubeconfig)
    pod, pod_port = resolve_pod(core, namespace, service, port, {}, f"Service {service}")
    with TcpBridge(lambda: pod_socket(core, namespace, pod, pod_port)) as local:
        yield f"http://127.0.0.1:{local}"


def _target_port(service: Any, port: int) -> int:
    # The Service port may map to another container port; named target ports are rare for
    # engines (the profile fixes the number, R6), so they fall back to the Service port.
    for entry in service.spec.ports or []:
        if entry.port == port and isinstance(entry.target_port, int):
            return entry.target_port
    return port


def pod_socket(core: Any, namespace: str, pod: str, port: int) -> _StreamSocket:
    """One port-forward stream to `pod:port` (a socket-like object, blocking)."""
    from kubernetes.stream import portforward  # lazily, as kube_core_api

    forward = portforward(
        core.connect_get_namespaced_pod_portforward, pod, namespace, ports=str(port)
    )
    sock = forward.socket(port)
    sock.setblocking(True)
    return sock


class TcpBridge:
    """A loopback TCP listener; each accepted connection is piped to a fresh `connect()` stream.

    Separate from Kubernetes so it can be tested with any socket factory. Threads are daemons
    and poll a stop flag, so leaving the context never blocks for long.
    """

    def __init__(self, connect: Callable[[], _StreamSocket], poll_s: float = 0.2) -> None:
        self._connect = connect
        self._poll_s = poll_s
        self._stop = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.last_error: str | None = None

    def __enter__(self) -> int:
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._listener.settimeout(self._poll_s)
        threading.Thread(target=self._accept_loop, name="smoke-bridge", daemon=True).start()
        return int(self._listener.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._listener.close()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                local, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # listener closed
            try:
                remote = self._connect()
            except Exception as exc:  # report through the client: its connection just closes
                self.last_error = f"port-forward failed: {type(exc).__name__}: {exc}"
                local.close()
                continue
            threading.Thread(target=self._pump, args=(local, remote), daemon=True).start()

    def _pump(self, local: socket.socket, remote: _StreamSocket) -> None:
        try:
            while not self._stop.is_set():
                readable, _, _ = select.select([local, remote], [], [], self._poll_s)
                for source in readable:
                    data = source.recv(65536)
                    if not data:
                        return
                    (remote if source is local else local).sendall(data)
        except OSError:
            pass  # either side reset: the HTTP client sees the closed connection
        finally:
            local.close()
            remote.close()
