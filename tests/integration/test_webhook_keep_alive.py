"""The webhook sender keeps connections alive per checked address (service/delivery.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from service.delivery import Sender
from tests.webhook_receiver import Receiver

HEADERS = {"content-type": "application/json", "webhook-id": "msg_1"}


@pytest.fixture
def sender() -> Iterator[Sender]:
    sender = Sender(allow_private=True, timeout=2)
    yield sender
    sender.close()


def _post(sender: Sender, receiver: Receiver, n: int) -> None:
    outcome = sender.post(receiver.url, b'{"n": %d}' % n, HEADERS)
    assert outcome.delivered, outcome


def test_deliveries_to_one_receiver_share_one_connection(sender: Sender) -> None:
    receiver = Receiver(keep_alive=True)
    try:
        for n in range(5):
            _post(sender, receiver, n)
        assert [r.body for r in receiver.wait_for(5)] == [b'{"n": %d}' % n for n in range(5)]
        assert receiver.connections == 1
    finally:
        receiver.stop()


def test_a_connection_the_receiver_closed_while_idle_is_replaced_and_the_event_arrives_once(sender: Sender) -> None:
    receiver = Receiver(keep_alive=True, idle_close=0.2)
    try:
        _post(sender, receiver, 1)
        time.sleep(0.6)  # the receiver has closed the kept connection by now
        _post(sender, receiver, 2)
        assert [r.body for r in receiver.wait_for(2)] == [b'{"n": 1}', b'{"n": 2}']
        time.sleep(0.2)
        assert len(receiver.received) == 2 and receiver.connections == 2
    finally:
        receiver.stop()


def test_a_receiver_that_closes_after_each_answer_gets_a_new_connection_each_time(sender: Sender) -> None:
    receiver = Receiver()  # HTTP/1.0: the server closes after every answer
    try:
        for n in range(3):
            _post(sender, receiver, n)
        assert len(receiver.wait_for(3)) == 3 and receiver.connections == 3
    finally:
        receiver.stop()


def test_close_ends_the_idle_connections_and_the_next_delivery_opens_one(sender: Sender) -> None:
    receiver = Receiver(keep_alive=True)
    try:
        _post(sender, receiver, 1)
        sender.close()
        _post(sender, receiver, 2)
        assert len(receiver.wait_for(2)) == 2 and receiver.connections == 2
    finally:
        receiver.stop()


def test_an_error_answer_keeps_the_connection_and_reports_the_status(sender: Sender) -> None:
    receiver = Receiver(keep_alive=True)
    receiver.status = 503
    try:
        outcome = sender.post(receiver.url, b"{}", HEADERS)
        assert outcome.status == 503 and outcome.error == "HTTP 503" and outcome.response_prefix == "ok"
        receiver.status = 204
        _post(sender, receiver, 1)
        assert receiver.connections == 1
    finally:
        receiver.stop()


def test_a_kept_connection_left_unusable_by_its_last_answer_is_replaced(sender: Sender) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    import threading

    seen: list[bytes] = []

    class SloppyHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            seen.append(self.rfile.read(int(self.headers["content-length"])))
            self.send_response(204)
            self.end_headers()
            self.wfile.write(b"stray")  # a body on a 204: the next answer on this connection is garbled

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), SloppyHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    try:
        assert sender.post(url, b"1", HEADERS).delivered
        assert sender.post(url, b"2", HEADERS).delivered
        # the second event may have reached the handler on the garbled connection too: at
        # least once, with the same webhook-id, as the module says
        assert seen[0] == b"1" and set(seen[1:]) == {b"2"} and len(seen) in (2, 3)
    finally:
        sender.close()
        server.shutdown()
        server.server_close()
