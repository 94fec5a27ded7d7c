"""A change of controls on the management page reaches the app as a signed `controls.changed`
webhook, exactly once (CONTRACT §11, §13): the page's step is the controls flow, whose log
entry is the outbox. A module of its own because delivery needs the real clock."""

from __future__ import annotations

import json

from standardwebhooks.webhooks import Webhook

from tests.api.test_webhooks import subscribe, worker  # noqa: F401  (worker: a fixture)
from tests.guardian.test_controls_page import manage_path, post_controls
from tests.webhook_fixtures import clock, receiver, runtime  # noqa: F401  (fixtures)


def test_a_change_on_the_page_is_delivered_once_as_controls_changed(http, auth, family, receiver, worker) -> None:  # type: ignore[no-untyped-def]
    secret = subscribe(http, auth, receiver.url, events=["controls.changed"])["secret"]
    manage = manage_path(http, auth)
    assert post_controls(http, manage, daily_minutes="30", blocked="digital_human").status_code == 303
    assert post_controls(http, manage, daily_minutes="90").status_code == 422  # refused: nothing to send
    worker.run_until_idle()

    (delivery,) = receiver.wait_for(1)
    body = Webhook(secret).verify(delivery.body, delivery.headers)
    assert body["type"] == "controls.changed" and body["tenant"] == "tenant-a"
    assert body["data"]["child_ref"] == "child" and body["data"]["guardian_ref"] == "parent"
    assert body["data"]["controls"] == {"daily_minutes": 30, "blocked_categories": ["digital_human"]}
    worker.run_until_idle()
    assert [json.loads(d.body)["type"] for d in receiver.received] == ["controls.changed"]
