"""Constants the issuer (agegate's service) and every verifier must agree on byte for byte.

They live here, not in the service, because this distribution installs on its own and the
service depends on it, never the other way round.
"""

from typing import Final

#: ``typ`` header of an age token.
TOKEN_TYPE: Final = "age-bracket+jwt"
#: ``typ`` header of a Token Status List token.
STATUS_LIST_TYPE: Final = "statuslist+jwt"
#: ``typ`` header of a consent-log checkpoint.
CHECKPOINT_TYPE: Final = "log-checkpoint+jwt"
#: ``typ`` header of a guardian's consent receipt.
RECEIPT_TYPE: Final = "consent-receipt+jwt"
#: ``alg`` values accepted for Ed25519 keys: RFC 8037's name and RFC 9864's fully specified one.
ALGORITHMS: Final = ("EdDSA", "Ed25519")
#: ``alg`` the issuer writes: the name every JOSE library verifies today.
SIGNING_ALGORITHM: Final = "EdDSA"
#: Longest age token (in bytes) a verifier decodes at all.
MAX_TOKEN_BYTES: Final = 8192
#: Largest clock-skew allowance (seconds) a verifier may be configured with.
MAX_LEEWAY: Final = 60
#: Path under the issuer URL where status lists are published.
STATUS_LIST_PATH: Final = "/v1/status-lists/"
#: The issuer of sandbox tenants' tokens is the service's issuer with this path appended:
#: its own keys, JWKS and status lists, never the production ones.
SANDBOX_PATH: Final = "/sandbox"
#: Path under the issuer URL where the signing keys are published.
JWKS_PATH: Final = "/.well-known/jwks.json"
#: The ``prev`` of a tenant's first consent-log event.
GENESIS: Final = "0" * 64
