"""The compliance officer's report: one self-contained HTML file with inline SVG charts.

No scripts, fonts or images from anywhere: a Content-Security-Policy of `default-src 'none'`
makes a browser refuse anything that would reach out, so the file reads the same offline.
Every value is escaped; the page holds counts only, never a subject.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

WIDTH = 720
COLOURS = {
    "under_14": "#c0392b", "minor": "#e67e22", "adult": "#2e86c1", "older": "#7d3c98",
    "granted": "#27ae60", "declined": "#c0392b", "withdrawn": "#7f8c8d",
    "deletion_required": "#e67e22", "data_deleted": "#2e86c1",
}
LABELS = {
    "under_14": "under 14", "minor": "14-17", "adult": "18-59", "older": "60 and over",
    "granted": "granted", "declined": "declined", "withdrawn": "withdrawn",
    "deletion_required": "deletion required", "data_deleted": "data deleted",
}
STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; color: #1b2631; margin: 2em auto; max-width: 760px; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: .1em; } h2 { font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #d5d8dc; }
.lead { color: #566573; margin-top: 0; } table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .3em .6em; border-bottom: 1px solid #eaecee; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
.yes { color: #c0392b; font-weight: 600; } .no { color: #1e8449; } .draft { color: #7f8c8d; font-size: .85em; }
.figures { display: flex; gap: 1em; flex-wrap: wrap; } .figure { flex: 1; min-width: 150px; background: #f4f6f7; padding: .8em 1em; border-radius: 6px; }
.figure b { display: block; font-size: 1.7em; } svg text { font: 12px system-ui, sans-serif; fill: #1b2631; }
"""


def _number(value: int) -> str:
    return f"{value:,}"


def horizontal_bars(counts: dict[str, int]) -> str:
    """One bar per key, longest = full width; the count written beside each bar."""
    row, label_width, most = 30, 110, max([1, *counts.values()])
    height = row * len(counts) + 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" role="img" aria-label="bar chart">']
    for index, (key, value) in enumerate(counts.items()):
        y = 5 + index * row
        length = round((WIDTH - label_width - 90) * value / most)
        parts.append(f'<text x="0" y="{y + 17}">{escape(LABELS.get(key, key))}</text>')
        parts.append(f'<rect x="{label_width}" y="{y}" width="{max(length, 1)}" height="22" fill="{COLOURS.get(key, "#5d6d7e")}"/>')
        parts.append(f'<text x="{label_width + length + 6}" y="{y + 17}">{_number(value)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def monthly_bars(months: Sequence[dict[str, Any]], series: Sequence[str]) -> str:
    """Grouped bars per month for each series, with a legend and a scale of the tallest bar."""
    height, top, bottom, left = 230, 30, 30, 40
    plot = height - top - bottom
    most = max([1, *(month[key] for month in months for key in series)])
    group = (WIDTH - left) / max(len(months), 1)
    bar = max(2.0, (group - 8) / len(series))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" role="img" aria-label="monthly chart">']
    parts.append(f'<text x="0" y="{top + 4}">{_number(most)}</text><text x="0" y="{top + plot}">0</text>')
    parts.append(f'<line x1="{left}" y1="{top + plot}" x2="{WIDTH}" y2="{top + plot}" stroke="#aab7b8"/>')
    for legend, key in enumerate(series):
        x = left + legend * 150
        parts.append(f'<rect x="{x}" y="4" width="12" height="12" fill="{COLOURS[key]}"/>')
        parts.append(f'<text x="{x + 16}" y="15">{escape(LABELS[key])}</text>')
    for index, month in enumerate(months):
        x0 = left + index * group + 4
        for offset, key in enumerate(series):
            tall = plot * month[key] / most
            if month[key]:
                parts.append(
                    f'<rect x="{x0 + offset * bar:.1f}" y="{top + plot - tall:.1f}" width="{bar - 1:.1f}" '
                    f'height="{max(tall, 1):.1f}" fill="{COLOURS[key]}"><title>{escape(month["month"])} '
                    f'{escape(LABELS[key])}: {month[key]}</title></rect>'
                )
        parts.append(f'<text x="{x0 + 2:.1f}" y="{height - 10}">{escape(month["month"][5:])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _threshold_rows(thresholds: Sequence[dict[str, Any]]) -> str:
    rows = []
    for row in thresholds:
        crossed = '<span class="yes">reached</span>' if row["crossed"] else '<span class="no">not reached</span>'
        draft = ' <span class="draft">(draft figure)</span>' if row["draft"] else ""
        rows.append(
            f"<tr><td>{escape(row['metric'])} &ge; {_number(row['at_least'])}{draft}<br>"
            f"<span class=\"draft\">{escape(row['rule'])}; {escape(row['basis'])}</span></td>"
            f"<td class=\"n\">{_number(row['value'])}</td><td>{crossed}</td></tr>"
        )
    return "".join(rows)


def render(summary: dict[str, Any], annual: dict[str, Any], generated_at: str) -> str:
    """The whole page from a summary document and a minors-pi document of the same tenant."""
    tenant, year = escape(summary["tenant"]), annual["year"]
    figures = "".join(
        f'<div class="figure">{escape(title)}<b>{_number(annual[key]["exact"])}</b>'
        f'rounded: {_number(annual[key]["rounded"])}</div>'
        for key, title in (("persons_processed", "persons processed"), ("under_18", "of them under 18"),
                           ("under_14", "of them under 14"))
    )
    consents, deletions = annual["consents"], annual["deletions"]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>agegate compliance report: {tenant}, {year}</title><style>{STYLE}</style></head>
<body>
<h1>Compliance report: {tenant}</h1>
<p class="lead">Year {year} ({escape(annual["from"])} to {escape(annual["until"])}); generated {escape(generated_at)}.</p>
<h2>Minors' personal information in {year} (Art. 37 annual audit)</h2>
<div class="figures">{figures}</div>
<p>Persons whose information was held at any time in the year; under 18 / under 14 at some time in it.
Erased subjects are not counted.</p>
<h2>Subjects by age bracket today</h2>
{horizontal_bars(summary["by_bracket"])}
<p>{_number(summary["subjects_total"])} subjects; {_number(summary["monthly_active_subjects"])} with a token in the last 30 days.</p>
<h2>Guardian consents in {year}</h2>
<p>{_number(consents["granted"])} granted, {_number(consents["declined"])} declined, {_number(consents["withdrawn"])} withdrawn;
{_number(summary["consents_active"])} active today.</p>
{monthly_bars(annual["by_month"], ("granted", "declined", "withdrawn"))}
<h2>Deletions in {year}</h2>
<p>{_number(deletions["required"])} required, {_number(deletions["done"])} done, {_number(deletions["overdue"])} not done
by their due date; today {_number(summary["deletions"]["overdue"])} overdue of {_number(summary["deletions"]["required"])} ever required.</p>
{monthly_bars(annual["by_month"], ("deletion_required", "data_deleted"))}
<h2>Thresholds of the policy</h2>
<table><tr><th>rule</th><th>figure</th><th>status</th></tr>{_threshold_rows(summary["thresholds"])}</table>
</body></html>
"""
