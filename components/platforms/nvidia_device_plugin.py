"""NVIDIA device plugin DaemonSet for K3s: advertises `nvidia.com/gpu` on GPU nodes.

On K3s the plugin must run with `runtimeClassName: nvidia` (the RuntimeClass K3s registers when
it finds the container toolkit) or it sees no GPUs, and it schedules only on nodes labelled
`nvidia.com/gpu.present=true`, which the K3s startup script sets (docs/platforms/k3s.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.component import type_token, with_aliases
from components.k8s_objects import create_object

# nvcr.io/nvidia/k8s-device-plugin, pinned (v0.17.4 is the tag public K3s/GPU-operator setups
# pin; NVIDIA/k8s-device-plugin release).
DEVICE_PLUGIN_IMAGE = "nvcr.io/nvidia/k8s-device-plugin:v0.17.4"
NAME = "nvidia-device-plugin"
NAMESPACE = "kube-system"
RUNTIME_CLASS = "nvidia"
GPU_PRESENT_LABEL = "nvidia.com/gpu.present"


def daemonset(image: str = DEVICE_PLUGIN_IMAGE) -> dict[str, Any]:
    """The plugin DaemonSet (the upstream static manifest plus K3s' runtime class)."""
    labels = {"app.kubernetes.io/name": NAME, "app.kubernetes.io/part-of": "inference-stacks"}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": labels},
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": NAME}},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "runtimeClassName": RUNTIME_CLASS,
                    "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                    "priorityClassName": "system-node-critical",
                    "nodeSelector": {GPU_PRESENT_LABEL: "true"},
                    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists",
                                     "effect": "NoSchedule"}],
                    "containers": [{
                        "name": "nvidia-device-plugin-ctr",
                        "image": image,
                        "securityContext": {"allowPrivilegeEscalation": False,
                                            "capabilities": {"drop": ["ALL"]},
                                            "seccompProfile": {"type": "RuntimeDefault"}},
                        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"},
                                      "limits": {"memory": "256Mi"}},
                        "volumeMounts": [{"name": "device-plugin",
                                          "mountPath": "/var/lib/kubelet/device-plugins"}],
                    }],
                    "volumes": [{"name": "device-plugin",
                                 "hostPath": {"path": "/var/lib/kubelet/device-plugins"}}],
                },
            },
        },
    }


@dataclass(frozen=True)
class NvidiaDevicePluginArgs:
    provider: k8s.Provider | None
    image: str = DEVICE_PLUGIN_IMAGE


class NvidiaDevicePlugin(pulumi.ComponentResource):
    """The device plugin; engines depend on it so GPU requests can be scheduled."""

    def __init__(self, name: str, args: NvidiaDevicePluginArgs,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(type_token(__name__, "NvidiaDevicePlugin"), name, None,
                         with_aliases(opts, "inference-stacks:platform:NvidiaDevicePlugin"))
        self.daemonset = create_object(name, daemonset(args.image), pulumi.ResourceOptions(
            parent=self, provider=args.provider))
        self.register_outputs({"image": args.image})
