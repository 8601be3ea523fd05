"""Players: accounts and sign-in (OIDC, Discord, Steam), sessions and API tokens, the RFC 8628 device
grant and game logins, identity claims (`!claim CODE` in chat), player id -> user resolution, and
achievements computed from committed events.

A feature package (DESIGN.md, "Folders"): it stands on the kernel `fragstats/` and never imports
`ingest`, `query` or `tournaments`; the assembly (`fragstats/app.py`) wires it to them: committed
events reach it through the pipeline's after-commit hooks (`identity.hooks`), and `query` reads its
resolver through `fragstats.identities.IdentityResolver`.
"""
