"""Standard Webhooks signatures, checked with the specification's own Python library."""

from __future__ import annotations

import base64
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from service.events.payloads import encode, message_id, payload
from service.events.signing import headers, new_secret, signature


def _body() -> bytes:
    event = {"type": "granted", "tenant": "t1", "occurred_at": "2026-11-30T08:00:00.000000Z", "consent_id": "c-1", "child_ref": "孩子"}
    return encode(payload(7, event))


def test_a_new_secret_is_whsec_and_32_random_bytes() -> None:
    first, second = new_secret(), new_secret()
    assert first.startswith("whsec_") and first != second
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32


def test_the_standard_webhooks_library_verifies_our_delivery_and_returns_the_body() -> None:
    secret, body = new_secret(), _body()
    sent = headers(secret, message_id("ab" * 32), int(time.time()), body)
    assert Webhook(secret).verify(body, sent)["data"]["child_ref"] == "孩子"
    assert sent["webhook-id"] == "evt_" + "ab" * 16 and sent["content-type"] == "application/json"


def test_the_library_refuses_a_changed_body_another_secret_or_another_id() -> None:
    secret, body = new_secret(), _body()
    sent = headers(secret, "evt_1", int(time.time()), body)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b'"seq":7', b'"seq":8'), sent)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, sent)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, {**sent, "webhook-id": "evt_2"})


def test_a_secret_without_the_prefix_is_refused() -> None:
    with pytest.raises(ValueError, match="whsec_"):
        signature("c2VjcmV0", "evt_1", 0, b"{}")
