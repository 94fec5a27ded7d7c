"""Subjects: registration with evidence, the subject's standing, erasure (CONTRACT §5)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy.orm import Session

from service.domain.brackets import Bracket, bracket_at, check_birth_date, next_bracket_change
from service.domain.evidence import Assurance, normalize_resident_id, resident_id_birth_date
from service.flows import deletions
from service.flows.deps import Deps
from service.store import consents as consent_store
from service.store import subjects as subject_store
from service.store.consents import SubjectConsent
from service.store.models import Subject


@dataclass(frozen=True)
class Evidence:
    """Age evidence as submitted: `method` names which one field is set.

    The personal fields stay out of repr(), so an Evidence in a log line or a traceback
    never shows a birth date, an ID number or an attestation.
    """

    method: str  # "self_declared" (birth_date), "resident_id" (resident_id), "attestation" (jwt)
    birth_date: date | None = field(default=None, repr=False)
    resident_id: str | None = field(default=None, repr=False)
    jwt: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class SubjectRegistration:
    tenant: str
    subject_ref: str
    evidence: Evidence
    # a sandbox tenant (CONTRACT §15): any checksum-valid resident ID is accepted
    sandbox: bool = False


@dataclass(frozen=True)
class SubjectStanding:
    """What may be said of a subject: bracket and assurance, never the birth date."""

    subject_ref: str
    age_bracket: Bracket
    assurance: Assurance
    bracket_valid_until: datetime | None  # the next bracket change, in the ages' time zone
    verified_at: date  # the day the evidence was accepted, in the ages' time zone


@dataclass(frozen=True)
class SubjectRegistered:
    standing: SubjectStanding
    created: bool


@dataclass(frozen=True)
class SubjectLookup:
    tenant: str
    subject_ref: str


@dataclass(frozen=True)
class SubjectRead:
    standing: SubjectStanding
    consents: list[SubjectConsent]


@dataclass(frozen=True)
class SubjectErasure:
    tenant: str
    subject_ref: str
    client_id: str


@dataclass(frozen=True)
class SubjectErased:
    subject_ref: str
    consents_ended: int


def register_new_subject(session: Session, deps: Deps, registration: SubjectRegistration) -> SubjectRegistered | None:
    """Check the evidence, then create the subject -- on PostgreSQL in one statement, so it
    may run with no transaction around it (Runtime.run_single_statement). None when the
    subject_ref is taken: register_subject then reconciles it with what is recorded.

    Raises as register_subject does, a resident ID another subject holds included.
    """
    accepted = _accept(deps, registration.evidence, sandbox=registration.sandbox)
    subject = subject_store.insert_subject(
        session,
        deps.kek,
        tenant=registration.tenant,
        subject_ref=registration.subject_ref,
        evidence=accepted,
        now=deps.clock(),
    )
    return None if subject is None else SubjectRegistered(_standing_at(deps, subject, accepted.birth_date), True)


def register_subject(session: Session, deps: Deps, registration: SubjectRegistration) -> SubjectRegistered:
    """Check the evidence, then create the subject or reconcile it with what is recorded.

    Raises ImplausibleBirthDate, InvalidResidentId or InvalidAttestation when the evidence
    proves nothing, and store Conflict when it contradicts stronger recorded evidence or
    names a resident ID another subject holds.
    """
    # Before the first query: an attester's JWKS may be fetched here, with no lock held.
    accepted = _accept(deps, registration.evidence, sandbox=registration.sandbox)
    subject, created = subject_store.register_subject(
        session,
        deps.kek,
        tenant=registration.tenant,
        subject_ref=registration.subject_ref,
        evidence=accepted,
        now=deps.clock(),
    )
    # On success the recorded birth date is the evidence's (kept, or replaced by stronger
    # evidence): no need to decrypt what was just sealed.
    return SubjectRegistered(_standing_at(deps, subject, accepted.birth_date), created)


def read_subject(session: Session, deps: Deps, lookup: SubjectLookup) -> SubjectRead:
    """The subject's standing and the consents it takes part in; raises store NotFound."""
    subject = subject_store.get_subject(session, lookup.tenant, lookup.subject_ref)
    consents = consent_store.of_subject(session, lookup.tenant, lookup.subject_ref, deps.clock())
    return SubjectRead(standing(deps, subject), consents)


def erase_subject(session: Session, deps: Deps, erasure: SubjectErasure) -> SubjectErased:
    """Delete the subject's personal fields, revoke its tokens and end its consents (each
    ending logged as `subject_erased`); raises store NotFound."""
    now = deps.clock()
    erased = subject_store.erase_subject(session, erasure.tenant, erasure.subject_ref, now)
    ended = consent_store.end_for_erased_subject(
        session, tenant=erasure.tenant, subject_ref=erasure.subject_ref, client_id=erasure.client_id, now=now
    )
    deletions.after_erasure(session, deps, erased, ended, client_id=erasure.client_id)
    return SubjectErased(erasure.subject_ref, len(ended))


def standing(deps: Deps, subject: Subject) -> SubjectStanding:
    """The subject's bracket now, from its decrypted birth date."""
    return _standing_at(deps, subject, subject_store.birth_date_of(deps.kek, subject))


def _standing_at(deps: Deps, subject: Subject, birth_date: date) -> SubjectStanding:
    now, tz = deps.clock(), deps.timezone
    return SubjectStanding(
        subject_ref=subject.subject_ref,
        age_bracket=bracket_at(birth_date, now, tz),
        assurance=Assurance(subject.assurance),
        bracket_valid_until=next_bracket_change(birth_date, now, tz),
        verified_at=subject.verified_at.astimezone(tz).date(),
    )


def _accept(deps: Deps, evidence: Evidence, *, sandbox: bool) -> subject_store.AcceptedEvidence:
    """Check the evidence and say what it proves; raises a domain error when it proves nothing.

    For a sandbox tenant a resident ID needs only its form, a calendar date and its check
    character: the region is not checked (the ready-made test identities carry region 99,
    which no real person has), and no hash of it is kept, so one test identity may be
    registered for as many test subjects as the integrator likes.
    """
    resident_id_hmac = attester = None
    if evidence.method == "self_declared" and evidence.birth_date is not None:
        birth_date = evidence.birth_date
        assurance = Assurance.SELF_DECLARED
    elif evidence.method == "resident_id" and evidence.resident_id is not None:
        number = normalize_resident_id(evidence.resident_id)
        birth_date = resident_id_birth_date(number, any_region=sandbox)
        if not sandbox:
            resident_id_hmac = deps.kek.keyed_hash("resident-id", number.encode())
        assurance = Assurance.DOCUMENT
    elif evidence.method == "attestation" and evidence.jwt is not None:
        attester, birth_date = deps.attestation.birth_date(evidence.jwt)
        assurance = Assurance.VERIFIED
    else:
        raise ValueError(f"evidence method {evidence.method!r} without its field")
    check_birth_date(birth_date, deps.clock(), deps.timezone)
    return subject_store.AcceptedEvidence(birth_date, assurance, evidence.method, resident_id_hmac, attester)
