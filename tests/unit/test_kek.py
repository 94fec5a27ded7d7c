"""The KEK's subkeys: sealed fields open only in their own row and purpose."""

from __future__ import annotations

import pytest

from service.kek import KeyEncryptionKey, Undecryptable

KEK = KeyEncryptionKey(bytes(range(32)))


def test_a_sealed_value_opens_with_the_same_purpose_and_context() -> None:
    sealed = KEK.seal("birth-date", b"2013-05-01", b"tenant\x00u-1")
    assert KEK.open("birth-date", sealed, b"tenant\x00u-1") == b"2013-05-01"


def test_sealing_twice_gives_different_ciphertexts() -> None:
    assert KEK.seal("p", b"x", b"c") != KEK.seal("p", b"x", b"c")


@pytest.mark.parametrize(
    "purpose, context, kek",
    [
        ("signing-key", b"tenant\x00u-1", KEK),
        ("birth-date", b"tenant\x00u-2", KEK),
        ("birth-date", b"tenant\x00u-1", KeyEncryptionKey(bytes(32))),
    ],
    ids=["another-purpose", "another-row", "another-kek"],
)
def test_a_sealed_value_does_not_open_elsewhere(purpose: str, context: bytes, kek: KeyEncryptionKey) -> None:
    sealed = KEK.seal("birth-date", b"2013-05-01", b"tenant\x00u-1")
    with pytest.raises(Undecryptable):
        kek.open(purpose, sealed, context)


def test_tampered_ciphertext_does_not_open() -> None:
    sealed = bytearray(KEK.seal("birth-date", b"2013-05-01", b"c"))
    sealed[-1] ^= 1
    with pytest.raises(Undecryptable):
        KEK.open("birth-date", bytes(sealed), b"c")


def test_keyed_hashes_match_for_equal_input_and_differ_by_purpose_and_key() -> None:
    number = b"11010519491231002X"
    assert KEK.keyed_hash("resident-id", number) == KEK.keyed_hash("resident-id", number)
    assert KEK.keyed_hash("resident-id", number) != KEK.keyed_hash("other", number)
    assert KEK.keyed_hash("resident-id", number) != KeyEncryptionKey(bytes(32)).keyed_hash("resident-id", number)
    assert number.decode() not in KEK.keyed_hash("resident-id", number)


def test_the_kek_is_never_shown() -> None:
    assert "00010203" not in repr(KEK) and repr(KEK) == "KeyEncryptionKey(<masked>)"


def test_a_kek_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError):
        KeyEncryptionKey(b"short")
