"""The service layer: each business step as one plain function, `step(session, deps, data)`.

Views, hosted pages, the CLI and the worker call these and nothing below them for a step,
so a rule lives in one place. Each function takes the session of a transaction its caller
opened with `service.store.transactions.run_in_transaction` (or `Runtime.run`/`Runtime.read`;
flows never commit), the collaborators in one `Deps`, and one frozen input value; it returns
a result value. The store's query functions do the persistence; there is no repository or
unit-of-work layer on top of them.

- `deps`: `Deps`, what the steps need besides the session;
- `subjects`: `register_subject`, `read_subject`, `erase_subject`;
- `consents`: `grant_consent`, `decline_consent`, `withdraw_consent`, `expire_consents`, `list_consents`;
- `tokens`: `issue_token`, which reads with one SELECT and so takes `Runtime.read_connection`
  (a bare connection, no session) instead of a session;
- `idempotency`: `once`, the first answer to an Idempotency-Key is the answer to every repeat.
"""
