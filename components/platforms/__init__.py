"""Platform components: the resources that give endpoints a Kubernetes cluster."""
