"""Errors a user can cause and fix. The CLI prints these as one line and exits with 2."""


class RooflineError(Exception):
    """Base class for user-facing errors (bad spec, bad target, unsupported op in strict mode)."""


class HardwareSpecError(RooflineError):
    """A hardware spec file is missing, malformed or implausible."""


class TargetError(RooflineError):
    """A model target could not be resolved, built or run."""


class UnsupportedOpError(RooflineError):
    """Raised in strict mode when an op has no cost formula."""
