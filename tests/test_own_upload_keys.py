"""A signed-in player makes their own upload key (issue: "a signed-in user may create their own
upload key") and a damage meter uploads with it; the player lists and revokes it, and the revoked
key is refused. On the session's real engines; the user is made with identity's own session code."""

from __future__ import annotations

import uuid

import pytest

from test_identity_claims import user_headers
from uploads_data import body, encounter

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_a_signed_in_user_makes_lists_uses_and_revokes_an_upload_key(app, client):
    _, me = await user_headers(app, "Meter Owner")
    made = await client.post("/api/v1/users/me/keys", json={"name": "my  meter"}, headers=me)
    assert made.status_code == 201, made.text
    key = made.json()
    assert key["scopes"] == ["upload"] and key["name"] == "my meter" and key["key"].startswith("fsk_")

    doc = encounter("own-" + uuid.uuid4().hex[:8])
    up = await client.post("/api/v1/encounters", content=body(doc), headers={"X-API-Key": key["key"],
                                                                            "Content-Type": "application/json"})
    assert up.status_code == 201, up.text

    listed = (await client.get("/api/v1/users/me/keys", headers=me)).json()["keys"]
    assert [(k["key_id"], k["revoked_at"]) for k in listed] == [(key["key_id"], None)]
    assert "key" not in listed[0]  # the key itself is shown once, at creation

    _, other = await user_headers(app, "Someone Else")
    assert (await client.delete(f"/api/v1/users/me/keys/{key['key_id']}", headers=other)).status_code == 404
    assert (await client.delete(f"/api/v1/users/me/keys/{key['key_id']}", headers=me)).status_code == 204
    again = await client.post("/api/v1/encounters", content=body(encounter("own-" + uuid.uuid4().hex[:8])),
                              headers={"X-API-Key": key["key"], "Content-Type": "application/json"})
    assert again.status_code == 401
    assert (await client.post("/api/v1/users/me/keys", json={"name": "x"})).status_code == 401  # not signed in
    assert (await client.post("/api/v1/users/me/keys", json={"name": "   "}, headers=me)).status_code == 422
