"""The family page's Messages section shows what outreach sent and what failed."""

from __future__ import annotations

import re
import socket
from datetime import UTC, datetime

from attunement.outreach import OutreachConfig, Worker
from attunement.store import OutreachRecords

from .support import PASSWORD


def _login(client, email: str) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/login").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    r = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": csrf},
                    follow_redirects=False)
    assert r.status_code in (302, 303)


def test_family_page_shows_failed_delivery_to_staff(sqlite_world, page_client):
    store, fam = sqlite_world.store, sqlite_world.family_a
    actor = store.actor(sqlite_world.users["practitioner"])
    # a staff alert whose SMTP server is down: the retry must be visible on the family page
    records = OutreachRecords(store)
    records.queue([{"key": "test:1", "kind": "alert", "stage": 0, "family_id": fam,
                    "site_id": store.families.get_family(actor, fam)["site_id"],
                    "user_id": sqlite_world.users["practitioner"]}])
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    down = OutreachConfig(smtp_host="127.0.0.1", smtp_port=port, retry_base_seconds=60)
    [r] = Worker(store, down).deliver_due(datetime.now(UTC))
    assert r["status"] == "retry"
    _login(page_client, "pa@example.org")
    html = page_client.get(f"/families/{fam}").text
    section = html.split('id="messages-title"', 1)[1].split("</section>", 1)[0]
    assert "practitioner" in section and "not delivered yet" in section
    assert "unreachable" in section and "1 attempt;" in section


def test_contact_preferences_through_the_page_and_the_api(world, client):
    fam = world.family_a
    h = world.headers("practitioner")
    r = client.put(f"/api/families/{fam}/caregivers/mother/contact", headers=h,
                   json={"language": "es", "method": "sms"})
    assert r.status_code == 200, r.text
    assert r.json() == {"caregiver": "mother", "language": "es", "method": "sms",
                        "opted_out": False}
    r = client.put(f"/api/families/{fam}/caregivers/mother/contact", headers=h,
                   json={"method": "fax"})
    assert r.status_code == 422
    r = client.put(f"/api/families/{fam}/caregivers/mother/contact", headers=h,
                   json={"language": "Spanish!"})
    assert r.status_code == 422 and "language" in r.text
    # researchers change nothing; another site's practitioner does not see the family
    r = client.put(f"/api/families/{fam}/caregivers/mother/contact",
                   headers=world.headers("researcher"), json={"opted_out": True})
    assert r.status_code in (403, 404)
    r = client.get(f"/api/families/{fam}/messages", headers=world.headers("practitioner_b"))
    assert r.status_code == 404
    r = client.get(f"/api/families/{fam}/messages", headers=h)
    assert r.status_code == 200 and r.json() == []


def test_contact_form_on_the_family_page_records_opt_out(sqlite_world, page_client):
    fam = sqlite_world.family_a
    _login(page_client, "pa@example.org")
    html = page_client.get(f"/families/{fam}").text
    assert "How each caregiver is reached" in html
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    r = page_client.post(f"/families/{fam}/contact", data={
        "csrf_token": csrf, "caregiver": "father", "language": "cy", "method": "email",
        "opted_out": "on"}, follow_redirects=False)
    assert r.status_code in (302, 303)
    store = sqlite_world.store
    actor = store.actor(sqlite_world.users["practitioner"])
    prefs = {p["caregiver"]: p for p in OutreachRecords(store).contact_preferences(actor, fam)}
    assert prefs["father"] == {"caregiver": "father", "language": "cy", "method": "email",
                               "opted_out": True}
