"""`agegate policy reference`: the README's policy reference is generated from the policy file."""

from __future__ import annotations

import pytest

from service.domain.brackets import Bracket
from service.domain.policy import load_policy
from service.policy_reference import policy_reference


@pytest.mark.parametrize("version", ["2026-07-15.1", "2026-07-15.2"])
def test_the_reference_names_every_cell_obligation_and_basis_of_the_file(version: str) -> None:
    policy = load_policy(version=version)
    text = policy_reference(policy)
    assert text.startswith(f"# agegate policy {policy.version}\n")
    for category in policy.categories:
        row = next(line for line in text.splitlines() if line.startswith(f"| `{category}`"))
        assert row.count("|") == len(Bracket) + 2
        for bracket in Bracket:
            rule = policy.rules[bracket][category]
            assert f"- `{category}` / `{bracket.value}`: {rule.basis}" in text
            assert ("deny" in row) or rule.decision != "deny"
    for obligation in policy.obligations:
        assert f"- `{obligation.id}`: {obligation.meaning}" in text
