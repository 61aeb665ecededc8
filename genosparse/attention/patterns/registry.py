"""The registry: every pattern module, listed once, and what is derived from their declarations.

Adding a pattern: write ``patterns/<name>.py`` defining ``PATTERN = Pattern(...)`` (see
:class:`~genosparse.attention.patterns.base.Pattern`), add the module to :data:`MODULES` and add
``conf/attention/<name>.yaml``; ``tests/attention/test_registry.py`` checks the rest.
"""

from __future__ import annotations

from typing import Any, Mapping

from genosparse.attention.patterns import bigbird, dense, dilated, fixed, learned, lsh, window
from genosparse.attention.patterns.base import Option, Pattern
from genosparse.errors import ConfigError

MODULES = (bigbird, window, dilated, fixed, dense, learned, lsh)
"""The pattern modules, in the order patterns are listed (and ``AttentionConfig`` orders their options)."""

PATTERNS: dict[str, Pattern] = {module.PATTERN.name: module.PATTERN for module in MODULES}
"""Every pattern by name (the ``attention.pattern`` values)."""
STATIC_PATTERNS = tuple(name for name, p in PATTERNS.items() if not p.dynamic)
"""Patterns whose layout depends on the length only (built once per length)."""
DYNAMIC_PATTERNS = tuple(name for name, p in PATTERNS.items() if p.dynamic)
"""Patterns that build their layout from each input (learned routing, LSH)."""
ALL_PATTERNS = tuple(PATTERNS)


def _named(table: str) -> dict[str, tuple[Pattern, Mapping[str, Any]]]:
    """``{setting name: (pattern, overrides)}`` of every pattern's ``cases`` or ``benchmarks``, names unique."""
    named: dict[str, tuple[Pattern, Mapping[str, Any]]] = {}
    for pattern in PATTERNS.values():
        for name, overrides in getattr(pattern, table).items():
            if name in named:
                raise TypeError(f"{table} setting {name!r} is declared by both {named[name][0].name!r} and "
                                f"{pattern.name!r}")
            named[name] = (pattern, overrides)
    return named


def _options() -> dict[str, tuple[Option, tuple[str, ...]]]:
    """``{option name: (option, names of the patterns using it)}``, in order of first use."""
    options: dict[str, tuple[Option, tuple[str, ...]]] = {}
    for pattern in PATTERNS.values():
        for option in pattern.options:
            known, users = options.get(option.name, (option, ()))
            if known is not option:
                raise TypeError(f"patterns {users[0]!r} and {pattern.name!r} declare different options "
                                f"{option.name!r}; share one Option object")
            options[option.name] = (option, (*users, pattern.name))
    return options


OPTIONS = _options()
CASES = _named("cases")
"""Test settings by name: ``{name: (pattern, overrides)}`` (see ``Pattern.cases``)."""
BENCHMARKS = _named("benchmarks")
"""Benchmark settings by name: ``{name: (pattern, overrides)}``, the rows of the issue-14 table."""


def get_pattern(name: str) -> Pattern:
    """The registered pattern ``name``.

    Raises:
        ConfigError: for an unknown name, listing the known ones.
    """
    if name not in PATTERNS:
        raise ConfigError(f"unknown attention pattern {name!r}; choose one of {', '.join(PATTERNS)}")
    return PATTERNS[name]
