"""The tamper-evident consent log's pure parts (CONTRACT.md §8): no database, no Flask.

- ``chain``: the hash rule and event shape, used by the store's writer;
- ``export``: the NDJSON lines and the signed checkpoint, used by the export endpoint;
- ``verify``: the regulator's offline verifier, used by ``agegate audit verify``.

Nothing is re-exported here on purpose: the store imports ``chain`` without pulling in
``verify``'s urllib, and each caller names the module it depends on.
"""
