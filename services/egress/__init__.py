"""The egress policy: one place decides which addresses the server may fetch or navigate to."""

from services.egress.policy import (
    EgressPolicy,
    EgressRefused,
    IPNetwork,
    Refusal,
    Resolver,
    Target,
    classify,
    numeric_host,
    parse_cidrs,
)

__all__ = [
    "EgressPolicy",
    "EgressRefused",
    "IPNetwork",
    "Refusal",
    "Resolver",
    "Target",
    "classify",
    "numeric_host",
    "parse_cidrs",
]
