"""The claims of an age token: checked once when first seen, kept for repeat visits."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from typing import Any

from ._constants import STATUS_LIST_PATH
from .errors import Malformed, UnknownFeature, WrongAudience, WrongIssuer, WrongTenant

# A tuple, not a set: ``in`` compares with ==, so a decision that is a list or an object
# is refused as malformed instead of raising TypeError (unhashable) out of ``gate``.
_DECISIONS = ("allow", "deny", "needs_consent")
_KNOWN_LISTS = 4096
_CHECKED_FEATURE_SETS = 16
_LIST_ID = re.compile(r"[A-Za-z0-9_-]+")  # no dots, slashes or queries: one path segment
_CLOCK = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")


@dataclass(frozen=True, slots=True)
class Decision:
    """What a persona service may do with one feature category for one token.

    ``allowed`` is true only for ``decision == "allow"``; ``obligations`` must then be
    applied while serving the feature. ``reason`` says why not, when not allowed: the
    policy's reason, ``needs_consent``'s, or an ``InvalidToken.reason``.

    ``limits`` (contract v2 §13, minors only, else None) must be enforced while serving any
    feature: ``daily_minutes``, ``curfew`` (``{"start", "end"}``, local "HH:MM", possibly
    across midnight; equal means the whole day), ``single_payment_max_cny`` and
    ``monthly_payment_max_cny``.
    """

    allowed: bool
    decision: str
    obligations: tuple[str, ...] = ()
    reason: str | None = None
    limits: dict[str, Any] | None = None


def denial(reason: str) -> Decision:
    """A ``deny`` decision for ``reason``."""
    return Decision(allowed=False, decision="deny", obligations=(), reason=reason)


_UNKNOWN_FEATURE = denial(UnknownFeature.reason)


def decide(claims: dict[str, Any], feature: str) -> Decision:
    """Return the decision checked ``claims`` make for ``feature`` (``unknown_feature`` if none)."""
    spec = claims["features"].get(feature)
    if spec is None:
        return _UNKNOWN_FEATURE
    verdict = spec["decision"]
    return Decision(
        verdict == "allow", verdict, tuple(spec.get("obligations") or ()), spec.get("reason"), claims.get("limits")
    )


#: What the cache keeps of a token whose signature and claim shapes passed (time and status
#: are rechecked on every call): ``(exp, not_before, uri, idx, kid, jti, payload)``, the
#: payload's bytes replaced by an ``Entry`` when the token is seen again. A token seen once
#: stays this plain tuple: building it is one bytecode where an instance with nine
#: attributes costs a Python ``__init__``, and holding only strings, numbers and bytes it is
#: untracked by the cyclic garbage collector at the first collection it survives, so the
#: thousands of tokens a busy verifier sees once never make a full collection walk them.
Record = tuple[int, float, str, int, str, str, "bytes | Entry"]


class Entry:
    """The claims of a token seen again, parsed when first asked for, and its decisions,
    each computed once. Most tokens are never seen again and never get one."""

    __slots__ = ("_payload", "_claims", "_decisions")

    def __init__(self, payload: bytes) -> None:
        self._payload = payload
        self._claims: dict[str, Any] | None = None
        self._decisions: dict[str, Decision] | None = None

    def claims(self) -> dict[str, Any]:
        """The claims, parsed on first use and kept."""
        if self._claims is None:
            # These exact bytes passed the strict parser when first seen: the plain one suffices.
            self._claims = json.loads(self._payload)
        return self._claims

    def decision(self, feature: str) -> Decision:
        """Return the token's decision for ``feature``, computed once per feature."""
        decisions = self._decisions
        if decisions is None:
            decisions = self._decisions = {}
        found = decisions.get(feature)
        if found is None:
            found = decisions[feature] = decide(self.claims(), feature)
        return found


_LIMITS = frozenset(("daily_minutes", "single_payment_max_cny", "monthly_payment_max_cny"))


def _check_limits(limits: object) -> None:
    """A ``limits`` claim, when present, must be exactly the §13 shape: a verifier that
    enforced a half-read limit would enforce the wrong one."""
    if type(limits) is not dict or set(limits) != {*_LIMITS, "curfew"}:
        raise Malformed("limits must hold exactly daily_minutes, curfew and the payment caps")
    if any(type(limits[name]) is not int or limits[name] < 0 for name in _LIMITS):
        raise Malformed("limits must be non-negative integers")
    curfew = limits["curfew"]
    if type(curfew) is not dict or set(curfew) != {"start", "end"} or not all(
        type(curfew[end]) is str and _CLOCK.fullmatch(curfew[end]) for end in ("start", "end")
    ):
        raise Malformed("limits.curfew must be {start, end} in HH:MM")


class ClaimsChecker:
    """Checks the claims of one issuer and audience (and tenant, if given), with exact JSON types."""

    def __init__(self, issuer: str, audience: str, leeway: float, tenant: str | None = None) -> None:
        self._issuers = (issuer, issuer + "/")  # issuer is normalized: no trailing slash
        self._audience = audience
        self._tenant = tenant
        self._leeway = leeway
        self._status_prefix = issuer + STATUS_LIST_PATH
        self._known_lists: set[str] = set()
        self._checked_features: list[dict[str, Any]] = []

    def record(self, kid: str, payload: bytes, claims: dict[str, Any]) -> Record:
        """Return the ``Record`` of verified ``claims`` (parsed from ``payload``); time is
        checked by the caller.

        Raises ``WrongIssuer``, ``WrongAudience``, ``WrongTenant`` or ``Malformed`` (a required claim
        missing or of the wrong type: ``iat``/``nbf``/``exp`` must be integers, not
        floats, strings or booleans; ``aud`` one string, not a list).
        """
        # The hot path of every new token: straight-line checks, no helper calls, because
        # each Python call here costs as much as the check it would make. Required claims
        # are read by subscript (cheaper than get()), in the order they are checked, so a
        # missing one fails where its check would have: KeyError, below, is Malformed.
        iss = claims.get("iss")
        if type(iss) is not str or iss not in self._issuers:
            raise WrongIssuer("iss is not the configured issuer")
        aud = claims.get("aud")
        if type(aud) is not str or aud != self._audience:
            raise WrongAudience("aud is not this audience")
        if self._tenant is not None and claims.get("tenant") != self._tenant:
            raise WrongTenant("tenant is not this audience's tenant")
        try:
            exp, nbf, iat = claims["exp"], claims["nbf"], claims["iat"]
            if type(exp) is not int or type(nbf) is not int or type(iat) is not int:
                raise Malformed("exp, nbf and iat must be integers")
            jti = claims["jti"]
            if (
                type(jti) is not str
                or type(claims["sub"]) is not str
                or type(claims["age_bracket"]) is not str
                or type(claims["assurance"]) is not str
                or type(claims["verified_at"]) is not str
                or type(claims["policy"]) is not str
            ):
                raise Malformed("sub, jti, age_bracket, assurance, verified_at, policy must be strings")
            features = claims["features"]
            if type(features) is not dict:
                raise Malformed("features must be an object")
            # A verifier sees a few feature sets (one per bracket and policy): one equal to a
            # set that passed needs no walk. Equal JSON values have equal types wherever the
            # walk looks (only a string equals a string, only a list a list), and the sets
            # kept are private copies that callers cannot mutate.
            if features not in self._checked_features:
                for spec in features.values():
                    if type(spec) is not dict or spec["decision"] not in _DECISIONS:
                        raise Malformed("feature decision must be allow, deny or needs_consent")
                    obligations = spec.get("obligations")
                    if obligations is not None:
                        if type(obligations) is not list:
                            raise Malformed("obligations must be a list of strings")
                        for obligation in obligations:
                            if type(obligation) is not str:
                                raise Malformed("obligations must be a list of strings")
                    reason = spec.get("reason")
                    if reason is not None and type(reason) is not str:
                        raise Malformed("reason must be a string")
                if len(self._checked_features) < _CHECKED_FEATURE_SETS:
                    self._checked_features.append(copy.deepcopy(features))
            limits = claims.get("limits")
            if limits is not None:
                _check_limits(limits)
            status = claims["status"]
            reference = status["status_list"] if type(status) is dict else None
            if type(reference) is not dict:
                raise Malformed("status.status_list is required")
            uri, idx = reference["uri"], reference["idx"]
        except KeyError as missing:
            raise Malformed(f"{missing.args[0]} is required") from None
        if type(idx) is not int or idx < 0:
            raise Malformed("status index must be a non-negative integer")
        if type(uri) is not str:
            raise Malformed("status list URI must be a string")
        known = self._known_lists
        if uri not in known:  # an issuer has few lists: check each URI once
            prefix = self._status_prefix
            if not uri.startswith(prefix) or _LIST_ID.fullmatch(uri[len(prefix) :]) is None:
                raise Malformed("status list URI is not under the issuer's status lists")
            if len(known) < _KNOWN_LISTS:
                known.add(uri)
        return (exp, (nbf if nbf > iat else iat) - self._leeway, uri, idx, kid, jti, payload)
