"""What each plan may do: feature → minimum tier, and monthly quotas per tier. One place.

Callers ask `TierGate.check(tier, feature)` (or `check_quota` with this month's usage) and get
`None` (go ahead) or a typed `Refusal` that handlers render as an upgrade message with a
subscribe button. The policy is configurable (`TierPolicy.from_mapping`, e.g. from settings)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bot.domain import Tier

TIER_LIMIT_EXCEEDED = "TIER_LIMIT_EXCEEDED"


class Feature(StrEnum):
    WORK_ORDERS = "work_orders"
    VOICE = "voice"
    PRINTS = "prints"

    @property
    def label(self) -> str:
        return FEATURE_LABELS[self]


FEATURE_LABELS: dict[Feature, str] = {
    Feature.WORK_ORDERS: "work orders",
    Feature.VOICE: "voice notes",
    Feature.PRINTS: "Chat with Print",
}


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a tier may not use a feature (now). `code` is the API/seed contract."""

    feature: Feature
    current_tier: Tier
    required_tier: Tier
    quota: int | None = None  # set when a monthly quota (not the tier itself) is the limit
    used: int | None = None
    code: str = TIER_LIMIT_EXCEEDED

    @property
    def is_quota(self) -> bool:
        return self.quota is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "feature": self.feature.value,
            "current_tier": self.current_tier.value,
            "required_tier": self.required_tier.value,
            "quota": self.quota,
            "used": self.used,
        }


@dataclass(frozen=True, slots=True)
class TierPolicy:
    minimum: Mapping[Feature, Tier]
    # Monthly quota per (tier, feature); a missing entry means unlimited.
    monthly_quota: Mapping[Tier, Mapping[Feature, int]] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], base: TierPolicy | None = None) -> TierPolicy:
        """`{"minimum": {"prints": "pro"}, "monthly_quota": {"basic": {"work_orders": 50}}}`,
        merged over `base` (the default policy). Unknown names raise ValueError."""
        base = base or DEFAULT_POLICY
        minimum = dict(base.minimum)
        for name, tier in (raw.get("minimum") or {}).items():
            minimum[Feature(name)] = Tier(tier)
        quotas = {tier: dict(values) for tier, values in base.monthly_quota.items()}
        for tier_name, values in (raw.get("monthly_quota") or {}).items():
            per_tier = quotas.setdefault(Tier(tier_name), {})
            for name, limit in values.items():
                if limit is None:
                    per_tier.pop(Feature(name), None)
                else:
                    per_tier[Feature(name)] = int(limit)
        return cls(minimum=minimum, monthly_quota=quotas)


DEFAULT_POLICY = TierPolicy(
    minimum={
        Feature.WORK_ORDERS: Tier.BASIC,
        Feature.VOICE: Tier.BASIC,
        Feature.PRINTS: Tier.PRO,
    },
    monthly_quota={
        Tier.BASIC: {Feature.WORK_ORDERS: 100, Feature.VOICE: 100},
        Tier.PRO: {Feature.WORK_ORDERS: 500, Feature.VOICE: 500, Feature.PRINTS: 200},
    },
)


class TierGate:
    def __init__(self, policy: TierPolicy = DEFAULT_POLICY) -> None:
        self.policy = policy

    def minimum_tier(self, feature: Feature) -> Tier:
        return self.policy.minimum.get(feature, Tier.BASIC)

    def quota(self, tier: Tier, feature: Feature) -> int | None:
        """This tier's monthly quota for the feature; None means unlimited."""
        return self.policy.monthly_quota.get(tier, {}).get(feature)

    def check(self, tier: Tier, feature: Feature) -> Refusal | None:
        required = self.minimum_tier(feature)
        if tier.rank < required.rank:
            return Refusal(feature=feature, current_tier=tier, required_tier=required)
        return None

    def check_quota(self, tier: Tier, feature: Feature, used_this_month: int) -> Refusal | None:
        """Tier first, then the monthly quota: `used_this_month` counts uses before this one."""
        refusal = self.check(tier, feature)
        if refusal is not None:
            return refusal
        limit = self.quota(tier, feature)
        if limit is None or used_this_month < limit:
            return None
        return Refusal(
            feature=feature,
            current_tier=tier,
            required_tier=self._next_tier_with_more(tier, feature, limit),
            quota=limit,
            used=used_this_month,
        )

    def _next_tier_with_more(self, tier: Tier, feature: Feature, limit: int) -> Tier:
        for candidate in list(Tier)[tier.rank + 1 :]:
            more = self.quota(candidate, feature)
            if more is None or more > limit:
                return candidate
        return Tier.ENTERPRISE
