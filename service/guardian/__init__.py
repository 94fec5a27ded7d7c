"""Hosted guardian consent (CONTRACT §12): the steps behind the consent-request API and pages.

- ``links``: link tokens and guardian codes, and their keyed hashes;
- ``requests``: create, authenticate, answer and expire consent requests; management links;
- ``receipts``: the signed consent receipt and its check;
- ``keep_little``: erasing under-14s nobody consented for (POLICY.md, 2026-11-30).

The consent rules themselves stay in the domain and the flows; these steps call them.
"""
