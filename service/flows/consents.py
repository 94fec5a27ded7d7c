"""Guardian consent (CONTRACT §7, §12; PIPL Art. 31): grant, decline, withdraw, expire."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from service.domain.brackets import bracket_at
from service.domain.consent import ConsentTerms, check_consent_request
from service.domain.evidence import Assurance
from service.flows import deletions
from service.flows.deps import Deps
from service.flows.policies import policy_of_revision
from service.store import consents as consent_store
from service.store import subjects as subject_store
from service.store.audit_log import Appended, LogPosition
from service.store.consents import ConsentRecord
from service.store.pages import Page


@dataclass(frozen=True)
class ConsentGrant:
    tenant: str
    client_id: str  # the client that recorded it, or that asked for it (a consent request)
    terms: ConsentTerms


@dataclass(frozen=True)
class ConsentGranted:
    record: ConsentRecord
    appended: Appended  # the `granted` entry, which a receipt names

    @property
    def log(self) -> LogPosition:
        """Where the `granted` entry stands; in a group commit, known only once it is linked."""
        return self.appended.position


@dataclass(frozen=True)
class ConsentDecline:
    """A guardian refusing `terms.scopes` for the child.

    `consent_id` ties the refusal to the consent granted in the same answer (a guardian
    who allows some categories and refuses others); None gives the refusal its own id.
    """

    tenant: str
    client_id: str | None
    terms: ConsentTerms
    consent_id: str | None = None


@dataclass(frozen=True)
class ConsentDeclined:
    consent_id: str
    terms: ConsentTerms
    policy: str
    appended: Appended  # the `declined` entry, which a receipt names

    @property
    def log(self) -> LogPosition:
        """Where the `declined` entry stands (asking links the transaction's staged appends)."""
        return self.appended.position


@dataclass(frozen=True)
class ConsentWithdrawal:
    tenant: str
    client_id: str | None  # None when the guardian withdrew on a hosted page
    consent_id: str
    reason: str | None = None


@dataclass(frozen=True)
class ConsentExpiry:
    """Which consents to look at for expiry: all (cron), a tenant's, or one child's."""

    tenant: str | None = None
    child_ref: str | None = None


@dataclass(frozen=True)
class ConsentListing:
    tenant: str
    child_ref: str
    after: tuple[Any, ...] | None = None  # the key of the last consent of the previous page
    limit: int = 100


def grant_consent(session: Session, deps: Deps, grant: ConsentGrant) -> ConsentGranted:
    """Record the guardian's consent and log `granted`, if the rules allow it.

    Raises store NotFound for a missing child or guardian, ConsentNotAllowed, BannedCategory
    or NotConsentable for a request the law or the policy refuses.
    """
    _check(session, deps, grant.tenant, grant.terms)
    record, appended = consent_store.grant(
        session,
        tenant=grant.tenant,
        client_id=grant.client_id,
        terms=grant.terms,
        policy_version=deps.policy.version,
        now=deps.clock(),
    )
    return ConsentGranted(record, appended)


def decline_consent(session: Session, deps: Deps, decline: ConsentDecline) -> ConsentDeclined:
    """Log the guardian's refusal (`declined`); nothing is granted, no token changes.

    A refusal answers a question that could be asked: the same rules as a grant apply, and
    break the same way (NotFound, ConsentNotAllowed, BannedCategory, NotConsentable).
    """
    _check(session, deps, decline.tenant, decline.terms)
    consent_id = decline.consent_id or str(uuid.uuid4())
    now = deps.clock()
    appended = consent_store.log_declined(
        session,
        tenant=decline.tenant,
        client_id=decline.client_id,
        consent_id=consent_id,
        terms=decline.terms,
        policy_version=deps.policy.version,
        now=now,
    )
    return ConsentDeclined(consent_id, decline.terms, deps.policy.version, appended)


def withdraw_consent(session: Session, deps: Deps, withdrawal: ConsentWithdrawal) -> ConsentRecord:
    """Withdraw the consent, log `withdrawn` and revoke the child's live tokens.

    Withdrawing again answers as the first time; an ended consent is a store Conflict; raises
    store NotFound.
    """
    record, withdrawn_now = consent_store.withdraw(
        session,
        tenant=withdrawal.tenant,
        consent_id=withdrawal.consent_id,
        reason=withdrawal.reason,
        client_id=withdrawal.client_id,
        now=deps.clock(),
    )
    if withdrawn_now:  # a repeated withdrawal owes nothing new
        deletions.after_consents_ended(session, deps, [record.consent], cause="withdrawn", client_id=withdrawal.client_id)
    return record


def expire_consents(session: Session, deps: Deps, expiry: ConsentExpiry) -> int:
    """Log `expired` for every consent in scope past its `expires_at`; returns how many."""
    expired = consent_store.expire_due(session, deps.clock(), tenant=expiry.tenant, child_ref=expiry.child_ref)
    deletions.after_consents_ended(session, deps, expired, cause="expired", client_id=None)
    return len(expired)


def list_consents(session: Session, deps: Deps, listing: ConsentListing) -> Page[ConsentRecord]:
    """One page of the child's consents, oldest first, expiries of the past logged first."""
    expire_consents(session, deps, ConsentExpiry(listing.tenant, listing.child_ref))
    return consent_store.page_for_child(
        session, listing.tenant, listing.child_ref, deps.clock(), after=listing.after, limit=listing.limit
    )


def _check(session: Session, deps: Deps, tenant: str, terms: ConsentTerms) -> None:
    """Apply POLICY.md "Guardian consent" to the terms, with the brackets of now and the
    tenant's policy in force, all read in one statement."""
    now, tz = deps.clock(), deps.timezone
    facts = consent_store.grant_facts(session, tenant, terms.child_ref, terms.guardian_ref)
    child, guardian = facts.child, facts.guardian
    check_consent_request(
        policy=policy_of_revision(deps, tenant, facts.policy_revision, facts.policy_document),
        child_bracket=bracket_at(subject_store.open_birth_date(deps.kek, tenant, child.subject_ref, child.birth_date_enc), now, tz),
        guardian_bracket=bracket_at(
            subject_store.open_birth_date(deps.kek, tenant, guardian.subject_ref, guardian.birth_date_enc), now, tz
        ),
        guardian_assurance=Assurance(guardian.assurance),
        child_ref=child.subject_ref,
        guardian_ref=guardian.subject_ref,
        scopes=terms.scopes,
    )
