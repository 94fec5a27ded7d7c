"""Age-token issuance (CONTRACT §6). A read path: it writes nothing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from agegate_verifier import SANDBOX_PATH, TOKEN_TYPE
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from service.domain.brackets import age_on, bracket_at, next_bracket_change
from service.domain.controls import NO_CONTROLS, GuardianControls, apply_blocked, limits_for
from service.domain.limits import next_band_change
from service.domain.consent import effective_scopes
from service.domain.evidence import Assurance
from service.domain.policy import Policy
from service.tokens.signing import sign_compact


def sandbox_issuer_of(issuer: str) -> str:
    """Sandbox tenants' tokens carry `iss` = `<issuer>/sandbox` (CONTRACT §15); their JWKS,
    discovery and status lists are published under that prefix."""
    return issuer + SANDBOX_PATH


def status_list_uri(issuer: str, list_id: int | str) -> str:
    return f"{issuer}/v1/status-lists/{list_id}"


@dataclass(frozen=True)
class TokenSubject:
    """What issuance needs to know of a subject, already decrypted and looked up."""

    subject_ref: str
    birth_date: date
    assurance: Assurance
    verified_at: datetime
    status_list_id: int
    status_idx: int
    consented_scopes: frozenset[str]
    consent_ids: tuple[str, ...]
    consents_expire_at: datetime | None


@dataclass(frozen=True)
class IssuedToken:
    token: str
    claims: dict[str, Any]
    expires_at: datetime


def issue_token(
    subject: TokenSubject,
    *,
    policy: Policy,
    controls: GuardianControls = NO_CONTROLS,
    issuer: str,
    tenant: str,
    audience: str,
    ttl: int,
    now: datetime,
    tz: ZoneInfo,
    kid: str,
    private_key: Ed25519PrivateKey,
) -> IssuedToken:
    """Sign a token whose features follow the policy for the subject's bracket at `now`, with
    the guardian's `controls` applied (blocked categories denied, limits tightened).

    `exp` is the earliest of now + ttl, the next bracket or limit-band change and the expiry
    of a consent the decisions rely on, so no verifier ever holds a token that outlived its facts.
    """
    bracket = bracket_at(subject.birth_date, now, tz)
    consented = effective_scopes(policy, bracket, subject.consented_scopes)
    decisions = apply_blocked(policy.decide(bracket, subject.assurance, consented), controls.blocked_categories)
    iat = int(now.timestamp())
    ends = [iat + ttl]
    for change in (next_bracket_change(subject.birth_date, now, tz), next_band_change(policy.limit_bands, subject.birth_date, now, tz)):
        if change is not None:
            ends.append(int(change.timestamp()))
    if consented and subject.consents_expire_at is not None:
        ends.append(int(subject.consents_expire_at.timestamp()))
    exp = min(ends)
    limits = limits_for(policy, age_on(subject.birth_date, now.astimezone(tz).date()), controls)
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": subject.subject_ref,
        "aud": audience,
        # the subject_ref is the tenant's own: the tenant says whose (CONTRACT §16)
        "tenant": tenant,
        "iat": iat,
        "nbf": iat,
        "exp": exp,
        "jti": uuid.uuid4().hex,
        "age_bracket": bracket.value,
        "assurance": subject.assurance.value,
        "verified_at": subject.verified_at.astimezone(tz).date().isoformat(),
        "policy": policy.version,
        "features": {category: decision.as_claim() for category, decision in decisions.items()},
        # which consents the decisions relied on: with `policy`, the "why" of every decision
        "consents": list(subject.consent_ids) if consented else [],
        "status": {"status_list": {"idx": subject.status_idx, "uri": status_list_uri(issuer, subject.status_list_id)}},
    }
    if limits is not None:  # minors only (contract v2 §13); the v1 claims stay as they were
        claims["limits"] = limits.as_claim()
    token = sign_compact(TOKEN_TYPE, claims, kid=kid, private_key=private_key)
    return IssuedToken(token, claims, datetime.fromtimestamp(exp, timezone.utc))
