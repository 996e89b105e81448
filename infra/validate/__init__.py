"""Validation: the platform registry of pure rules and the shared cross-field rules.

`load_stack_config` is the one place a raw stack config becomes a `StackConfig`, or a
`ConfigError` listing every problem with its key path.
"""
