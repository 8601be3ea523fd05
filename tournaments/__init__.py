"""Tournaments: the bracket and standings rules as pure functions over plain records (`model`,
`elimination`, `round_robin`, `groups`, `swiss`, `progress`, `results`, `standings`, `registration`,
`seeds`, `odds`, ...), and around them the package's I/O: Postgres storage (`store`, `event_store`,
`entrants`), JSON routes (leaf modules `bracket_routes`, `event_routes`, `result_routes` over the
helpers of `http`, the bodies of `schemas` and the shapes of `shapes`; all listed in `routes`), HTML
pages (`pages`), webhook deliveries (`webhooks`) and results read from committed telemetry
(`telemetry`)."""
