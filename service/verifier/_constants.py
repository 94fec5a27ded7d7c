"""Constants shared by the issuer (``service.tokens``) and every verifier.

They live here, not in the service, because the verifier must be importable on its own
and both sides have to agree on them byte for byte.
"""

from typing import Final

#: ``typ`` header of an age token.
TOKEN_TYPE: Final = "age-bracket+jwt"
#: ``typ`` header of a Token Status List token.
STATUS_LIST_TYPE: Final = "statuslist+jwt"
#: ``typ`` header of a consent-log checkpoint.
CHECKPOINT_TYPE: Final = "log-checkpoint+jwt"
#: ``alg`` values accepted for Ed25519 keys: RFC 8037's name and RFC 9864's fully specified one.
ALGORITHMS: Final = ("EdDSA", "Ed25519")
#: Longest age token (in bytes) a verifier decodes at all.
MAX_TOKEN_BYTES: Final = 8192
#: Largest clock-skew allowance (seconds) a verifier may be configured with.
MAX_LEEWAY: Final = 60
#: Path under the issuer URL where status lists are published.
STATUS_LIST_PATH: Final = "/v1/status-lists/"
#: Path under the issuer URL where the signing keys are published.
JWKS_PATH: Final = "/.well-known/jwks.json"
