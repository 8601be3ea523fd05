"""Tournaments II through the real app and Postgres: event config, registration with capacity and a
waitlist, approval, withdrawal, check-in with no-shows removed and the waitlist promoted, re-admit,
extension, time zones (DST) and the iCal export, launch with manual / random / rating seeds."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import ADMIN
from helpers import ok

pytestmark = pytest.mark.asyncio(loop_scope="session")
API = "/api/v1/tournaments"


@pytest.fixture(scope="module")
async def org(client) -> dict:
    body = await ok(await client.post("/api/v1/keys", json={"name": "event org", "scopes": ["tournaments"]},
                                      headers=ADMIN), 201)
    return {"Authorization": f"Bearer {body['key']}"}


def iso(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


async def new_event(client, org, event: dict, fmt: str = "single_elimination", name: str = "cup") -> int:
    tid = (await ok(await client.post(API, json={"name": name, "format": fmt}, headers=org), 201))["id"]
    await ok(await client.put(f"{API}/{tid}/event", json=event, headers=org))
    await ok(await client.post(f"{API}/{tid}/registration/open", headers=org))  # closed unless opened
    return tid


async def test_waitlist_checkin_no_shows_readmit_and_launch(client, org):
    starts = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=30)
    tid = await new_event(client, org, {"capacity": 4, "checkin_minutes": 60, "starts_at": iso(starts),
                                        "timezone": "Europe/Berlin"})
    tokens, ids = {}, {}
    for i in range(1, 7):
        body = await ok(await client.post(f"{API}/{tid}/registrations", json={"name": f"p{i}"}), 201)
        tokens[i], ids[i] = body["token"], body["registration"]["id"]
        assert body["token"].startswith("fsr_")
        assert body["registration"]["status"] == ("registered" if i <= 4 else "waitlisted")
    regs = (await ok(await client.get(f"{API}/{tid}/registrations", params={"status": "waitlisted"})))["registrations"]
    assert [(r["name"], r["waitlist_position"]) for r in regs] == [("p5", 1), ("p6", 2)]
    # the name is taken; a public registration cannot set a seed
    assert (await client.post(f"{API}/{tid}/registrations", json={"name": "p1"})).status_code == 422
    assert (await client.post(f"{API}/{tid}/registrations", json={"name": "x", "seed": 1})).status_code == 403

    # another entrant's token cannot withdraw p2; p2's own can, and p5 is promoted in order
    r = await client.post(f"{API}/{tid}/registrations/{ids[2]}/withdraw", headers={"X-Registration-Token": tokens[1]})
    assert r.status_code == 403
    body = await ok(await client.post(f"{API}/{tid}/registrations/{ids[2]}/withdraw",
                                      headers={"X-Registration-Token": tokens[2]}))
    assert body["registration"]["status"] == "withdrawn" and body["promoted"] == [ids[5]]
    assert (await client.post(f"{API}/{tid}/registrations/{ids[2]}/withdraw",
                              headers={"X-Registration-Token": tokens[2]})).status_code == 409

    # check-in: p1, p3, p5 (registered) and p6 (waitlisted) check in; p4 does not
    for i in (1, 3, 5, 6):
        body = await ok(await client.post(f"{API}/{tid}/registrations/{ids[i]}/checkin",
                                          headers={"X-Registration-Token": tokens[i]}))
        assert body["registration"]["checked_in"]
    event = await ok(await client.get(f"{API}/{tid}/event", params={"tz": "America/New_York"}))
    assert event["checkin"]["open"] is True and event["counts"]["registered"] == 4
    assert event["starts_at"]["utc"] == iso(starts) and event["starts_at"]["local"].endswith(("+01:00", "+02:00"))
    assert event["starts_at"]["viewer"].endswith(("-04:00", "-05:00"))

    body = await ok(await client.post(f"{API}/{tid}/checkin/close", headers=org))
    assert body["no_shows"] == [ids[4]] and body["promoted"] == [ids[6]]
    again = await ok(await client.post(f"{API}/{tid}/checkin/close", headers=org))
    assert again["no_shows"] == [] and again["promoted"] == []
    # check-in is over for everyone now
    assert (await client.post(f"{API}/{tid}/registrations/{ids[1]}/checkin",
                              headers={"X-Registration-Token": tokens[1]})).status_code == 409
    # the organiser re-admits the no-show: the bracket is full, so p4 waits (checked in) for a place
    body = await ok(await client.post(f"{API}/{tid}/registrations/{ids[4]}/readmit", headers=org))
    assert body["registration"]["status"] == "waitlisted" and body["registration"]["checked_in"]
    # an entrant cannot re-admit
    assert (await client.post(f"{API}/{tid}/registrations/{ids[4]}/readmit",
                              headers={"X-Registration-Token": tokens[4]})).status_code == 401

    body = await ok(await client.post(f"{API}/{tid}/launch", json={"seeding": "random", "random_seed": 42},
                                      headers=org))
    assert body["random_seed"] == 42 and sorted(s["seed"] for s in body["seeds"]) == [1, 2, 3, 4]
    assert {s["participant_id"] for s in body["seeds"]} == {ids[1], ids[3], ids[5], ids[6]}
    assert body["tournament"]["status"] == "running"
    ms = (await ok(await client.get(f"{API}/{tid}/matches")))["matches"]
    assert len(ms) == 3
    assert (await client.post(f"{API}/{tid}/launch", json={}, headers=org)).status_code == 409
    assert (await client.post(f"{API}/{tid}/registrations", json={"name": "late"})).status_code == 409
    # the audit log tells the story
    audit = (await ok(await client.get(f"{API}/{tid}/audit")))["entries"]
    actions = [e["action"] for e in audit]
    for a in ("configure_event", "register", "withdraw", "promote", "checkin", "close_checkin", "no_show",
              "readmit", "add_participant", "start", "launch"):
        assert a in actions, a


async def test_random_seeds_are_reproducible_and_rating_seeds_follow_ratings(client, org, app):
    pool = app.state.engines.pg
    now = dt.datetime.now(dt.timezone.utc)
    # stored ratings: r3 best, then r1, then r2; r4 has no rating (defaults: 25 - 3 * 8.33 = 0)
    for pid, mu, sigma in (("seedtest-a", 30.0, 2.0), ("seedtest-b", 20.0, 2.0), ("seedtest-c", 40.0, 1.0)):
        await pool.execute("INSERT INTO player_ratings (player_id, mu, sigma, matches, updated_at) VALUES"
                           " ($1, $2, $3, 5, $4) ON CONFLICT (player_id) DO UPDATE SET mu = $2, sigma = $3",
                           pid, mu, sigma, now)
    seeds = {}
    for method, extra in (("rating", {}), ("random", {"random_seed": 7}), ("random", {"random_seed": 7}),
                          ("manual", {})):
        tid = await new_event(client, org, {"capacity": 8})
        for name, pid, seed in (("r1", "seedtest-a", 4), ("r2", "seedtest-b", 3), ("r3", "seedtest-c", 2),
                                ("r4", None, 1)):
            await ok(await client.post(f"{API}/{tid}/registrations",
                                       json={"name": name, "player_id": pid, "seed": seed}, headers=org), 201)
        body = await ok(await client.post(f"{API}/{tid}/launch", json={"seeding": method, **extra}, headers=org))
        seeds.setdefault(method, []).append([s["name"] for s in body["seeds"]])
        if method == "rating":
            assert [s["rating"] for s in body["seeds"]] == sorted((s["rating"] for s in body["seeds"]), reverse=True)
    assert seeds["rating"][0] == ["r3", "r1", "r2", "r4"]
    assert seeds["random"][0] == seeds["random"][1]
    assert seeds["manual"][0] == ["r4", "r3", "r2", "r1"]


async def test_approval_team_rosters_and_closed_registration(client, org):
    tid = await new_event(client, org, {"kind": "team", "roster_min": 2, "roster_max": 3, "substitutes": 1,
                                        "approval": True, "capacity": 2})
    team = {"name": "Red", "tag": "RED", "members": [{"name": "a"}, {"name": "b"}, {"name": "c", "substitute": True}]}
    body = await ok(await client.post(f"{API}/{tid}/registrations", json=team), 201)
    assert body["registration"]["status"] == "pending" and body["registration"]["tag"] == "RED"
    rid = body["registration"]["id"]
    bad = [{"name": "Blue", "members": [{"name": "a"}]},                              # too few starters
           {"name": "Blue", "members": [{"name": "a"}, {"name": "b"}, {"name": "c", "substitute": True},
                                        {"name": "d", "substitute": True}]},           # too many substitutes
           {"name": "Blue", "members": [{"name": "a"}, {"name": "A"}]}]                 # same member twice
    for b in bad:
        r = await client.post(f"{API}/{tid}/registrations", json=b)
        assert r.status_code == 422, r.text
    body = await ok(await client.post(f"{API}/{tid}/registrations/{rid}/approve", headers=org))
    assert body["registration"]["status"] == "registered"
    assert (await client.post(f"{API}/{tid}/registrations/{rid}/approve", headers=org)).status_code == 409
    # the organiser's own registrations skip approval
    body = await ok(await client.post(f"{API}/{tid}/registrations", headers=org,
                                      json={"name": "Green", "members": [{"name": "x"}, {"name": "y"}]}), 201)
    assert body["registration"]["status"] == "registered"
    # closed to the public
    await ok(await client.put(f"{API}/{tid}/event", headers=org, json={"kind": "team", "roster_min": 2,
                                                                       "roster_max": 3, "open_registration": False}))
    r = await client.post(f"{API}/{tid}/registrations", json={"name": "Blue", "members": [{"name": "p"}, {"name": "q"}]})
    assert r.status_code == 401
    # a player event takes no roster of 2, and a bad config is 422
    assert (await client.put(f"{API}/{tid}/event", headers=org, json={"kind": "player", "roster_max": 2})).status_code == 422
    assert (await client.put(f"{API}/{tid}/event", headers=org, json={"capacity": 1})).status_code == 422


def last_sunday(year: int, month: int) -> int:
    """Day of the month of the last Sunday of `month` (when the EU changes its clocks)."""
    return max(d for d in range(25, 32) if dt.date(year, month, d).weekday() == 6)  # March, October: 31 days


async def test_time_zones_dst_and_ical(client, org):
    # next year's changes of the clocks in Berlin (a start must be in the future)
    year = dt.date.today().year + 1
    spring, autumn = last_sunday(year, 3), last_sunday(year, 10)
    day = f"{year}-10-{autumn:02d}"
    tid = (await ok(await client.post(API, json={"name": "DST cup, spring", "format": "single_elimination"},
                                      headers=org), 201))["id"]
    # 02:30 on the spring day does not exist in Berlin (clocks jump 02:00 -> 03:00)
    r = await client.put(f"{API}/{tid}/event", headers=org,
                         json={"starts_at": f"{year}-03-{spring:02d}T02:30:00", "timezone": "Europe/Berlin"})
    assert r.status_code == 422 and r.json()["error"] == "invalid_time"
    assert (await client.put(f"{API}/{tid}/event", headers=org,
                             json={"starts_at": f"{year}-03-{spring:02d}T12:00:00", "timezone": "Mars/Olympus"})
            ).status_code == 422
    # a start in the past is refused
    r = await client.put(f"{API}/{tid}/event", headers=org, json={"starts_at": "2025-10-26T02:30:00Z"})
    assert r.status_code == 422 and r.json()["error"] == "invalid_time" and "past" in r.json()["detail"]
    # 02:30 on the autumn day happens twice: the first one (still summer time, +02:00) is taken
    body = await ok(await client.put(f"{API}/{tid}/event", headers=org, json={
        "starts_at": f"{day}T02:30:00", "timezone": "Europe/Berlin", "checkin_minutes": 90, "round_minutes": 45}))
    assert body["starts_at"]["utc"] == f"{day}T00:30:00Z"
    assert body["starts_at"]["local"] == f"{day}T02:30:00+02:00"
    # the check-in opens before the change (summer time) and the viewer sees their own zone
    event = await ok(await client.get(f"{API}/{tid}/event", params={"tz": "Asia/Tokyo"}))
    assert event["checkin"]["opens"]["local"] == f"{day}T01:00:00+02:00"
    assert event["starts_at"]["viewer"] == f"{day}T09:30:00+09:00"
    assert (await client.get(f"{API}/{tid}/event", params={"tz": "Nowhere/Land"})).status_code == 422
    # an hour later on the local clock is two hours later in UTC across the change
    await ok(await client.put(f"{API}/{tid}/event", headers=org,
                              json={"starts_at": f"{day}T03:30:00", "timezone": "Europe/Berlin"}))
    event = await ok(await client.get(f"{API}/{tid}/event"))
    assert event["starts_at"]["utc"] == f"{day}T02:30:00Z" and event["starts_at"]["local"].endswith("+01:00")
    # an offset given explicitly is taken as written
    body = await ok(await client.put(f"{API}/{tid}/event", headers=org, json={
        "starts_at": f"{day}T02:30:00+01:00", "timezone": "Europe/Berlin", "checkin_minutes": 90,
        "round_minutes": 45}))
    assert body["starts_at"]["utc"] == f"{day}T01:30:00Z"
    r = await client.get(f"{API}/{tid}/schedule.ics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/calendar")
    text = r.text
    compact = day.replace("-", "")
    assert text.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n") and text.endswith("END:VCALENDAR\r\n")
    assert f"DTSTART:{compact}T000000Z" in text and f"DTEND:{compact}T013000Z" in text  # check-in
    assert f"DTSTART:{compact}T013000Z" in text and "SUMMARY:DST cup\\, spring: round 1" in text
    assert "X-WR-TIMEZONE:Europe/Berlin" in text
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))


async def test_checkin_window_and_extension(client, org, app):
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=5)
    tid = await new_event(client, org, {"checkin_minutes": 30, "starts_at": iso(later)})
    body = await ok(await client.post(f"{API}/{tid}/registrations", json={"name": "early bird"}), 201)
    rid, token = body["registration"]["id"], body["token"]
    r = await client.post(f"{API}/{tid}/registrations/{rid}/checkin", headers={"X-Registration-Token": token})
    assert r.status_code == 409 and r.json()["error"] == "stage_error"
    # ten minutes after the start (time passes: the row is moved back, as no organiser may set a past start)
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=10)
    await app.state.engines.pg.execute("UPDATE tournament_events SET starts_at = $2 WHERE tournament_id = $1", tid, past)
    r = await client.post(f"{API}/{tid}/registrations/{rid}/checkin", headers={"X-Registration-Token": token})
    assert r.status_code == 409
    body = await ok(await client.post(f"{API}/{tid}/checkin/extend", json={"minutes": 15}, headers=org))
    assert body["checkin"]["open"] and body["checkin_extra_minutes"] == 15
    await ok(await client.post(f"{API}/{tid}/registrations/{rid}/checkin", headers={"X-Registration-Token": token}))
    assert (await client.post(f"{API}/{tid}/checkin/extend", json={"minutes": 0}, headers=org)).status_code == 422
    await ok(await client.post(f"{API}/{tid}/checkin/close", headers=org))
    assert (await client.post(f"{API}/{tid}/checkin/extend", json={"minutes": 5}, headers=org)).status_code == 409
    # too few for a bracket: 422 from the engine, nothing half done
    r = await client.post(f"{API}/{tid}/launch", json={"seeding": "manual"}, headers=org)
    assert r.status_code == 422
    event = await ok(await client.get(f"{API}/{tid}/event"))
    assert event["launched_at"] is None
