"""The Pulumi program: stack config model, platform registry, composition and offline plan."""
