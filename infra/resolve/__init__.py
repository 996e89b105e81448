"""Resolution: pure functions from a validated config to what components consume.

Placement comes from the platform registry (`infra/validate/registry.py`); from it and the
endpoint config these modules build the `EndpointSpec` (or HyperPod's spec), the router spec and
the outputs contract entries. Nothing here creates a resource.
"""
