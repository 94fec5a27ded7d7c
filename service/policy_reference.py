"""The policy in force as a readable Markdown reference, generated from the policy file
(the same data GET /v1/policy serves), so no hand-written copy can drift from it."""

from __future__ import annotations

from service.domain.brackets import Bracket
from service.domain.policy import Policy, Rule


def _cell(rule: Rule) -> str:
    if rule.decision == "deny":
        return f"deny ({rule.reason})"
    text = "allow" if rule.decision == "allow" else "with consent"
    if rule.min_assurance is not None:
        text += f", assurance ≥ {rule.min_assurance}"
    if rule.obligations:
        text += " + " + ", ".join(rule.obligations)
    return text


def policy_reference(policy: Policy) -> str:
    """Markdown: every category by bracket, every obligation, and each rule's legal basis."""
    brackets = list(Bracket)
    lines = [
        f"# agegate policy {policy.version}",
        "",
        f"Prerequisite: `{policy.requires.category}`: {policy.requires.meaning} ({policy.requires.basis})",
        "",
        "| category | " + " | ".join(b.value for b in brackets) + " |",
        "| --- |" + " --- |" * len(brackets),
    ]
    for category in policy.categories:
        cells = [_cell(policy.rules[b][category]) for b in brackets]
        lines.append(f"| `{category}`: {policy.descriptions[category]} | " + " | ".join(cells) + " |")
    lines += ["", "## Obligations", ""]
    lines += [f"- `{o.id}`: {o.meaning} ({o.basis})" for o in policy.obligations]
    lines += ["", "## Legal basis of each rule", ""]
    for category in policy.categories:
        for bracket in brackets:
            lines.append(f"- `{category}` / `{bracket.value}`: {policy.rules[bracket][category].basis}")
    return "\n".join(lines) + "\n"
