"""The project's error hierarchy.

Every message names the offending value, the allowed range and the fix. ``ConfigError`` and
``DataError`` subclass ``ValueError`` so callers that catch the built-in keep working.
"""

from __future__ import annotations


class NeuroError(Exception):
    """Base class of every error neuroforge raises on purpose."""


class ConfigError(NeuroError, ValueError):
    """A parameter, config key or input value is outside what is allowed."""


class DataError(NeuroError, ValueError):
    """A dataset is missing, corrupt (checksum) or malformed."""


class BackendError(NeuroError, LookupError):
    """A (component, backend) pair is not registered, or a backend cannot run here."""


class HardwareError(NeuroError, RuntimeError):
    """A hardware tool (simulator, synthesis) is missing or failed, or fixed point overflowed."""


class TrainingError(NeuroError, RuntimeError):
    """Training cannot go on (e.g. a NaN loss); the message says where and what was kept."""
