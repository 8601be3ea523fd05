"""Every route of the uploads package, for the assembly (fragstats/app.py): encounter reports and the
damage meter's protocol, snapshots, and their pages."""

from __future__ import annotations

from uploads import encounter_routes, pages, snapshot_routes

routes = [*encounter_routes.routes, *snapshot_routes.routes, *pages.routes]
