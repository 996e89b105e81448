"""Pulumi components (one ComponentResource per module) and the pure builders they use."""
