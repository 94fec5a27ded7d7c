"""Regulators' reports: the summary, the annual minors' figures, the HTML page, activity counting."""
