"""Tournaments: the bracket and standings rules as pure functions over plain records (`model`,
`elimination`, `round_robin`, `groups`, `swiss`, `progress`, `results`, `standings`, `registration`,
`seeds`, `odds`, ...), and around them the package's I/O: Postgres storage (`store`, `event_store`),
JSON routes (`routes`, `event_routes`, `result_routes`), HTML pages (`pages`), webhook deliveries
(`webhooks`) and results read from committed telemetry (`telemetry`)."""
