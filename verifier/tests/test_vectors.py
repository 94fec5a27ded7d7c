"""verifier/vectors/ never goes stale, and every vector says what agegate's verifiers do."""

from __future__ import annotations

import importlib.util
import io
import json
from pathlib import Path
from typing import Any

import pytest

from agegate_verifier import StaticKeys, StatusUnavailable, Verifier
from agegate_verifier.checkpoint import kept_checkpoint
from agegate_verifier.cli import main
from agegate_verifier.log import ExportInvalid, jwks_keys, verify_export
from agegate_verifier.receipt import ReceiptInvalid, verify_receipt
from agegate_verifier.testing import MemoryFetch

VECTORS = Path(__file__).resolve().parents[1] / "vectors"


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("agegate_vectors_generate", VECTORS / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load(path: str) -> Any:
    return json.loads((VECTORS / path).read_bytes())


def test_the_published_files_are_exactly_what_the_generator_writes() -> None:
    built = _generator().build()
    on_disk = {str(p.relative_to(VECTORS)) for p in VECTORS.rglob("*") if p.is_file() and p.name != "generate.py"
               and p.name != "README.md"}
    assert on_disk == set(built), "run python verifier/vectors/generate.py"
    stale = [path for path, data in built.items() if (VECTORS / path).read_bytes() != data]
    assert not stale, f"stale vectors {stale}: run python verifier/vectors/generate.py"


@pytest.fixture(scope="module")
def genuine() -> dict[str, Any]:
    return load("tokens/genuine.json")


def verifier_serving(genuine: dict[str, Any], listing: bytes) -> Verifier:
    jwks = (VECTORS / genuine["jwks"]).read_bytes()
    fetch = MemoryFetch({f"{genuine['issuer']}/.well-known/jwks.json": jwks, genuine["status_list"]["uri"]: listing})
    return Verifier(genuine["issuer"], genuine["audience"], fetch=fetch, clock=lambda: genuine["now"])


@pytest.fixture
def verifier(genuine: dict[str, Any]) -> Verifier:
    return verifier_serving(genuine, (VECTORS / genuine["status_list"]["file"]).read_bytes())


def test_every_genuine_token_verifies_and_gates_as_stated(genuine: dict[str, Any], verifier: Verifier) -> None:
    for case in genuine["tokens"]:
        if case["valid"]:
            assert verifier.verify(case["token"]) == case["claims"], case["name"]
        for feature, expected in case["gate"].items():
            decision = verifier.gate(case["token"], feature)
            assert decision.allowed == expected["allowed"] and decision.decision == expected["decision"], case["name"]
            assert list(decision.obligations) == expected.get("obligations", []), case["name"]
            assert decision.reason == expected.get("reason"), case["name"]


def test_every_forged_token_fails_with_its_reason(verifier: Verifier) -> None:
    forged = load("tokens/forged.json")
    assert len(forged["tokens"]) >= 45
    assert {case["vectors_md_class"] for case in forged["tokens"]} == set(range(1, 12))
    for case in forged["tokens"]:
        assert verifier.gate(case["token"], "companion").reason == case["reason"], case["name"]


def test_every_forged_status_list_fails_closed(genuine: dict[str, Any]) -> None:
    minor = next(case["token"] for case in genuine["tokens"] if case["name"] == "minor")
    for case in load("status-lists/forged.json")["lists"]:
        with pytest.raises(StatusUnavailable):
            verifier_serving(genuine, case["token"].encode()).verify(minor)


def test_the_export_verifies_on_the_command_line_and_extends_the_earlier_checkpoint() -> None:
    index = load("log/tampered.json")
    out = io.StringIO()
    args = ["log", str(VECTORS / index["genuine"]), "--jwks", str(VECTORS / index["jwks"])]
    assert main(args, out=out) == 0, out.getvalue()
    since = str(VECTORS / index["since_checkpoint"]["file"])
    assert main([*args, "--since-checkpoint", since], out=out) == 0, out.getvalue()
    assert "extends the signed checkpoint at seq 7" in out.getvalue()


def test_every_tampered_export_names_its_first_bad_seq() -> None:
    index = load("log/tampered.json")
    keys = jwks_keys(load(index["jwks"]))
    for case in index["tampered"]:
        with pytest.raises(ExportInvalid) as caught:
            verify_export((VECTORS / case["file"]).read_bytes().splitlines(keepends=True), keys)
        assert (caught.value.seq, caught.value.reason) == (case["first_bad_seq"], case["reason"]), case["file"]


def test_a_tampered_export_does_not_extend_the_earlier_checkpoint_either() -> None:
    index = load("log/tampered.json")
    keys = jwks_keys(load(index["jwks"]))
    kept = kept_checkpoint((VECTORS / index["since_checkpoint"]["file"]).read_text(), keys)
    lines = (VECTORS / "log/tampered/edited-event.ndjson").read_bytes().splitlines(keepends=True)
    with pytest.raises(ExportInvalid):
        verify_export(lines, keys, since=kept)


def test_the_receipt_verifies_and_every_forged_receipt_fails_with_its_reason() -> None:
    forged = load("receipts/forged.json")
    keys = StaticKeys.from_jwks(load(forged["jwks"]))
    claims = verify_receipt((VECTORS / "receipts/receipt.jwt").read_text(), keys)
    export = [json.loads(line) for line in (VECTORS / "log/export.ndjson").read_bytes().splitlines()]
    assert {"seq": export[0]["seq"], "hash": export[0]["hash"]} == claims["log"]
    for case in forged["receipts"]:
        with pytest.raises(ReceiptInvalid) as caught:
            verify_receipt(case["token"], keys)
        assert caught.value.reason == case["reason"], case["name"]
