"""Outreach end to end on SQLite and PostgreSQL, with a real SMTP server (aiosmtpd) and a
local SMS provider: invitations in the caregiver's language, reminders, nothing after
answering, nothing twice (restart, two workers at once), escalation of urgent flags on time,
retries with back-off shown to staff, opt-out, and messages free of names and scores."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from outreach_support import SmsProvider, SmtpServer, free_port

from attunement.outreach import OutreachConfig, Worker
from attunement.outreach import worker as worker_module
from attunement.store import Actor, OutreachRecords, Store, StoreValidationError
from attunement.usecases import assessments as uc_assessments
from attunement.usecases import families as uc_families

PASSWORD = "correct horse battery staple"
EPDS_ITEM10 = [1, 1, 2, 2, 1, 2, 1, 1, 1, 2]  # item 10 above zero: the self-harm flag
DAY = timedelta(days=1)
# 6w time point: due date 2026-09-20 + 42 days = 2026-11-01, window ± 14 days
OPENS = datetime(2026, 10, 18, 9, 0, tzinfo=UTC)
NAMES = ("Philippa", "Wintergreen", "Osric", "Zebedee", "Quillfeather")
CLINICAL_WORDS = ("epds", "edinburgh", "phq", "score", "total", "flag_id", "item", "self-harm", "self_harm", "depress",
                  "N-001", "6w", "mother", "father")


@dataclass
class W:
    store: Store
    north: Actor
    fam: int


def payload(code: str, *, mother_email: str | None = "carer1@example.net",
            father: bool = True) -> dict:
    mother = {"id": "mother", "role": "birth_mother", "name": "Philippa Wintergreen",
              "phone": "07700 900123"}
    if mother_email:
        mother["email"] = mother_email
    return {
        "family_id": code, "site": "North", "study": "Follow-up", "placement": "birth_family",
        "assessed_on": "2026-10-01", "registered_on": "2026-06-01",
        "infant": {"due_date": "2026-09-20", "date_of_birth": "2026-09-20",
                   "name": "Zebedee Quillfeather"},
        "caregivers": [mother] + ([
            {"id": "father", "role": "birth_father", "name": "Osric Wintergreen",
             "phone": "07700 900456"}] if father else []),
    }


def make_world(store: Store, *, father: bool = True) -> W:
    system = store.system_actor()
    store.accounts.add_site(system, "North")
    store.accounts.add_study(system, "Follow-up", ["North"], [
        {"name": "6w", "offset_days": 42, "window_days": 14, "instruments": ["epds"]}])
    p = store.accounts.add_user(system, "north@example.org", "practitioner", ["North"], PASSWORD)
    store.accounts.add_user(system, "lead@example.org", "site_lead", ["North"], PASSWORD)
    north = store.actor(p["id"])
    fam = uc_families.register_family(store, north, payload("N-001", father=father))
    return W(store, north, fam["id"])


@pytest.fixture
def smtp():
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def sms():
    provider = SmsProvider().start()
    yield provider
    provider.stop()


def config(smtp: SmtpServer, sms: SmsProvider | None = None, **extra) -> OutreachConfig:
    return OutreachConfig(
        service_name="North Perinatal Service", public_url="https://care.example.org",
        smtp_host="127.0.0.1", smtp_port=smtp.port, mail_from="care@example.org",
        sms_url=sms.url if sms else None, sms_token="t0ken",
        duty_lists={"North": ["duty@example.org"]}, **extra)


def summary(results: list[dict]) -> list[tuple]:
    return sorted((r["kind"], r["channel"], r["status"]) for r in results)


def link_token(text: str) -> str:
    found = re.search(r"https://care\.example\.org/c/([A-Za-z0-9_-]+)", text)
    assert found, text
    return found.group(1)


def body(msg) -> str:  # type: ignore[no-untyped-def]
    return msg.get_content()


def assert_nothing_clinical(smtp: SmtpServer, sms: SmsProvider | None = None) -> None:
    texts = [raw.decode("utf-8") for raw in smtp.mailbox.raw]
    texts += [body(m) for m in smtp.mailbox.messages()]
    texts += [x["body"] for x in (sms.received if sms else [])]
    assert texts
    for text in texts:
        text = re.sub(r"https://\S+/c/[A-Za-z0-9_-]+", "LINK", text)  # random link tokens
        for word in (*NAMES, *CLINICAL_WORDS):
            assert word.lower() not in text.lower(), (word, text)


# ---------------------------------------------------------------------------- questionnaires
def test_invitation_in_language_then_reminders_until_answered_across_restart(store, smtp, sms):
    w = make_world(store)
    records = OutreachRecords(store)
    records.set_contact_preferences(w.north, w.fam, "mother", language="es")
    records.set_contact_preferences(w.north, w.fam, "father", method="sms")
    cfg = config(smtp, sms)

    assert Worker(store, cfg).run_once(OPENS - DAY) == []  # the window is not open yet
    sent = Worker(store, cfg).run_once(OPENS)
    assert summary(sent) == [("invitation", "email", "sent"), ("invitation", "sms", "sent")]
    [invite] = smtp.mailbox.to("carer1@example.net")
    assert "cuestionario" in invite["Subject"] and "North Perinatal Service" in body(invite)
    assert "Samaritans" in body(invite)  # the service's crisis contacts
    assert store.care.open_link(link_token(body(invite)))["time_point"] == "6w"
    assert [x["to"] for x in sms.received] == ["07700 900456"]
    assert sms.headers[0]["Authorization"] == "Bearer t0ken"

    # again at the same moment, and two days later: nothing new
    assert Worker(store, cfg).run_once(OPENS) == []
    assert Worker(store, cfg).run_once(OPENS + 2 * DAY) == []

    # a restart: a new process opens the same database
    store.close()
    again = Store.open(w.store.url, key_path=w.store.key_path)
    try:
        sent = Worker(again, cfg).run_once(OPENS + 3 * DAY)
        assert summary(sent) == [("reminder", "email", "sent"), ("reminder", "sms", "sent")]
        assert Worker(again, cfg).run_once(OPENS + 3 * DAY) == []
        mails = smtp.mailbox.to("carer1@example.net")
        assert len(mails) == 2 and "recordatorio" in mails[1]["Subject"]
        # the mother answers through her reminder's link: no further reminder for her
        uc_assessments.submit_link(again, link_token(body(mails[1])), [0] * 10)
        sent = Worker(again, cfg).run_once(OPENS + 7 * DAY)
        assert summary(sent) == [("reminder", "sms", "sent")]
        assert len(smtp.mailbox.to("carer1@example.net")) == 2
        # no reminder is configured after day 7, and the window closes on 2026-11-15
        assert Worker(again, cfg).run_once(OPENS + 12 * DAY) == []
        assert Worker(again, cfg).run_once(OPENS + 40 * DAY) == []
        assert len(sms.received) == 3
        kinds = [(m["kind"], m["stage"], m["status"]) for m in OutreachRecords(again)
                 .list_messages(w.north, w.fam) if m["caregiver"] == "father"]
        assert sorted(kinds) == [("invitation", 0, "sent"), ("reminder", 1, "sent"),
                                 ("reminder", 2, "sent")]
        log = again.maintenance.audit_log(again.system_actor(), family_id=w.fam)
        assert sum(e["action"] == "outreach_sent" for e in log) == 5
    finally:
        again.close()
    assert_nothing_clinical(smtp, sms)


def test_reminder_is_not_sent_when_answered_after_it_was_queued(store, smtp):
    w = make_world(store)
    cfg = config(smtp)
    worker = Worker(store, cfg)
    worker.run_once(OPENS)
    queued = worker.plan(OPENS + 3 * DAY)  # the mother's reminder is queued ...
    assert sorted((m["kind"], m["caregiver_id"]) for m in queued)[0][0] == "reminder"
    uc_assessments.submit_assessment(store, w.north, w.fam, "mother", "epds", "6w", [0] * 10)
    done = worker.deliver_due(OPENS + 3 * DAY)  # ... and answered before the worker sends it
    # (the father has no e-mail address: his reminder fails, visibly, as his invitation did)
    assert sorted((r["status"], r["error"]) for r in done) == [
        ("failed", "no e-mail address on record"), ("skipped", "the questionnaire was answered")]
    assert len(smtp.mailbox.raw) == 1


def test_two_workers_at_once_send_each_message_once(store, smtp):
    w = make_world(store)
    for i in range(2, 13):
        uc_families.register_family(store, w.north, payload(f"N-{i:03d}", mother_email=f"m{i}@example.net"))
    cfg = config(smtp)
    stores = [Store.open(store.url, key_path=store.key_path) for _ in range(2)]
    start = threading.Barrier(2)
    results: list[list[dict]] = [[], []]

    def run(i: int) -> None:
        start.wait()
        results[i] = Worker(stores[i], cfg, name=f"w{i}").run_once(OPENS)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for st in stores:
        st.close()
    sent = [r for rs in results for r in rs if r["status"] == "sent"]
    recipients = [m["To"] for m in smtp.mailbox.messages()]
    assert len(recipients) == 12 and len(set(recipients)) == 12  # fathers have no e-mail
    assert len(sent) == 12 and len({r["id"] for r in sent}) == 12
    assert Worker(store, cfg).run_once(OPENS) == []


# ---------------------------------------------------------------------------- escalation
def _alert(w: W, caregiver: str) -> dict:
    a = uc_assessments.submit_assessment(w.store, w.north, w.fam, caregiver, "epds", "6w", EPDS_ITEM10)
    [alert] = [x for x in w.store.care.list_alerts(w.north) if x["assessment_id"] == a["id"]]
    return alert


def test_unacknowledged_urgent_flag_escalates_on_time(store, smtp):
    w = make_world(store)
    cfg = config(smtp, escalate_after_minutes=120)
    mother = _alert(w, "mother")
    father = _alert(w, "father")
    t = datetime.fromisoformat(mother["created_at"])
    worker = Worker(store, cfg)

    sent = worker.run_once(t + timedelta(minutes=1))
    assert summary(sent) == [("alert", "email", "sent")] * 2
    assert [m["To"] for m in smtp.mailbox.messages()] == ["north@example.org"] * 2
    assert "an urgent flag needs review" in smtp.mailbox.messages()[0]["Subject"]
    assert f"https://care.example.org/families/{w.fam}" in body(smtp.mailbox.messages()[0])
    store.care.acknowledge_alert(w.north, father["id"], note="called, safe", outcome="safety_plan")

    assert worker.run_once(t + timedelta(minutes=119)) == []
    sent = worker.run_once(t + timedelta(minutes=121))  # only the unacknowledged one
    assert summary(sent) == [("escalation", "email", "sent")]
    assert smtp.mailbox.messages()[-1]["To"] == "duty@example.org"
    assert worker.run_once(t + timedelta(minutes=239)) == []
    sent = worker.run_once(t + timedelta(minutes=241))
    assert summary(sent) == [("escalation", "email", "sent")]
    assert smtp.mailbox.messages()[-1]["To"] == "lead@example.org"
    assert worker.run_once(t + timedelta(hours=10)) == []
    by_alert = {(m["alert_id"], m["stage"]) for m in OutreachRecords(store).all_messages()}
    assert by_alert == {(mother["id"], 0), (mother["id"], 1), (mother["id"], 2),
                        (father["id"], 0)}
    log = store.maintenance.audit_log(store.system_actor(), family_id=w.fam)
    queued = [e for e in log if e["action"] == "queue"]
    assert len(queued) == 4
    assert_nothing_clinical(smtp)


def test_an_acknowledged_flag_is_not_escalated_even_when_already_queued(store, smtp):
    w = make_world(store)
    cfg = config(smtp)
    alert = _alert(w, "mother")
    t = datetime.fromisoformat(alert["created_at"])
    worker = Worker(store, cfg)
    worker.run_once(t)
    assert len(worker.plan(t + timedelta(minutes=121))) == 1
    store.care.acknowledge_alert(w.north, alert["id"], note="seen", outcome="safety_plan")
    done = worker.deliver_due(t + timedelta(minutes=121))
    assert [(r["status"], r["error"]) for r in done] == [("skipped", "the flag was acknowledged")]
    assert [m["To"] for m in smtp.mailbox.messages()] == ["north@example.org"]


def test_an_emergency_goes_to_the_duty_list_at_once(store, smtp, monkeypatch):
    # an assessment alert standing in for an emergency kind (which the vocabulary defines)
    monkeypatch.setattr(worker_module, "is_emergency", lambda kind, flag="": kind == "safety")
    w = make_world(store)
    alert = _alert(w, "mother")
    t = datetime.fromisoformat(alert["created_at"])
    sent = Worker(store, config(smtp)).run_once(t)
    assert summary(sent) == [("alert", "email", "sent"), ("escalation", "email", "sent")]
    messages = smtp.mailbox.messages()
    assert sorted(m["To"] for m in messages) == ["duty@example.org", "north@example.org"]
    assert all("EMERGENCY" in m["Subject"] for m in messages)


# ---------------------------------------------------------------------------- failures
def test_smtp_down_is_retried_with_back_off_shown_to_staff_and_not_lost(store, smtp):
    w = make_world(store, father=False)
    down = config(smtp)
    down.smtp_port = free_port()  # nothing listens there
    worker = Worker(store, down)
    [r] = worker.run_once(OPENS)
    assert r["status"] == "retry" and "unreachable" in r["error"]
    assert r["retry_at"] == (OPENS + timedelta(seconds=60)).isoformat()
    [m] = OutreachRecords(store).list_messages(w.north, w.fam)
    assert (m["status"], m["attempts"]) == ("retry", 1) and "unreachable" in m["last_error"]
    assert worker.deliver_due(OPENS + timedelta(seconds=59)) == []
    [r] = worker.deliver_due(OPENS + timedelta(seconds=60))
    assert r["retry_at"] == (OPENS + timedelta(seconds=60 + 120)).isoformat()  # doubled

    up = Worker(store, config(smtp))
    assert up.deliver_due(OPENS + timedelta(seconds=179)) == []
    [r] = up.deliver_due(OPENS + timedelta(seconds=180))
    assert r["status"] == "sent" and len(smtp.mailbox.raw) == 1
    actions = [e["action"] for e in store.maintenance.audit_log(store.system_actor(), family_id=w.fam)]
    assert actions.count("outreach_retry") == 2 and actions.count("outreach_sent") == 1
    # a link made for an attempt that failed was expired: only the delivered one is live
    from sqlalchemy import text

    with store.db.read() as s:
        links = s.execute(text("SELECT expires_at FROM caregiver_links")).all()
    assert len(links) == 3
    cutoff = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
    live = [x for x in links if str(x[0]) > cutoff]
    assert len(live) == 1


def test_retries_stop_after_max_attempts_and_the_failure_stays_visible(store, smtp):
    w = make_world(store, father=False)
    down = config(smtp, max_attempts=2)
    down.smtp_port = free_port()
    worker = Worker(store, down)
    worker.run_once(OPENS)
    [r] = worker.deliver_due(OPENS + timedelta(minutes=1))
    assert r["status"] == "failed"
    [m] = OutreachRecords(store).failures()
    assert (m["status"], m["attempts"], m["family_id"]) == ("failed", 2, w.fam)
    assert worker.deliver_due(OPENS + 30 * DAY) == []


def test_sms_provider_500_is_retried_and_400_is_not(store, smtp, sms):
    w = make_world(store)
    OutreachRecords(store).set_contact_preferences(w.north, w.fam, "father", method="sms")
    cfg = config(smtp, sms)
    worker = Worker(store, cfg)
    sms.fail_with = 500
    results = {r["channel"]: r for r in worker.run_once(OPENS)}
    assert results["sms"]["status"] == "retry" and "500" in results["sms"]["error"]
    sms.fail_with = None
    [r] = worker.deliver_due(OPENS + timedelta(minutes=1))
    assert r["status"] == "sent" and len(sms.received) == 1
    sms.fail_with = 400
    [r] = [x for x in worker.run_once(OPENS + 3 * DAY) if x["channel"] == "sms"]
    assert r["status"] == "failed" and "400" in r["error"]


def test_no_address_on_record_fails_without_retry(store, smtp):
    w = make_world(store, father=False)
    uc_families.register_family(store, w.north, payload("N-002", mother_email=None, father=False))
    results = Worker(store, config(smtp)).run_once(OPENS)
    assert sorted((r["status"], r["error"]) for r in results) == [
        ("failed", "no e-mail address on record"), ("sent", None)]


# ---------------------------------------------------------------------------- preferences
def test_opt_out_is_respected_and_recorded(store, smtp):
    w = make_world(store, father=False)
    records = OutreachRecords(store)
    records.set_contact_preferences(w.north, w.fam, "mother", opted_out=True)
    assert Worker(store, config(smtp)).run_once(OPENS) == []
    assert smtp.mailbox.raw == []
    [m] = records.list_messages(w.north, w.fam)
    assert (m["status"], m["last_error"]) == ("skipped", "the caregiver opted out")
    log = store.maintenance.audit_log(store.system_actor(), family_id=w.fam)
    changes = [e for e in log if e["entity"] == "contact_preferences"]
    assert changes and changes[-1]["after"]["opted_out"] is True
    # opting out after a message was queued stops it too
    records.set_contact_preferences(w.north, w.fam, "mother", opted_out=False)
    uc_families.register_family(store, w.north, payload("N-002", mother_email="other@example.net",
                                         father=False))
    worker = Worker(store, config(smtp))
    worker.plan(OPENS)
    fam2 = next(f["id"] for f in store.families.list_families(w.north) if f["family_id"] == "N-002")
    records.set_contact_preferences(w.north, fam2, "mother", opted_out=True)
    assert [r["status"] for r in worker.deliver_due(OPENS)] == ["skipped"]


def test_contact_preferences_are_validated(store):
    w = make_world(store)
    records = OutreachRecords(store)
    with pytest.raises(StoreValidationError) as exc:
        records.set_contact_preferences(w.north, w.fam, "mother", method="fax")
    assert exc.value.field == "method"
    with pytest.raises(StoreValidationError) as exc:
        records.set_contact_preferences(w.north, w.fam, "mother", language="Spanish!")
    assert exc.value.field == "language"
    with pytest.raises(StoreValidationError):
        records.set_contact_preferences(w.north, w.fam, "nobody", language="es")


def test_no_caregiver_address_is_stored_in_clear(store, smtp):
    w = make_world(store)
    Worker(store, config(smtp)).run_once(OPENS)
    from sqlalchemy import text

    with store.db.read() as s:
        rows = s.execute(text("SELECT * FROM outreach_messages")).all()
        prefs = s.execute(text("SELECT * FROM contact_preferences")).all()
    dump = repr(rows) + repr(prefs)
    assert rows and "carer1@example.net" not in dump and "07700" not in dump
    assert w.fam in {r.family_id for r in rows}


# ---------------------------------------------------------------------------- running it
def test_embedded_worker_thread_sends_an_alert_on_sqlite_only(store, smtp, monkeypatch):
    from attunement.outreach.worker import start_embedded

    w = make_world(store)
    _alert(w, "mother")
    cfg = config(smtp, poll_seconds=0.05)
    if store.dialect != "sqlite":  # PostgreSQL services run `attunement worker` processes
        assert start_embedded(store, cfg) is None
        return
    monkeypatch.setenv("ATTUNEMENT_EMBEDDED_WORKER", "0")
    assert start_embedded(store, cfg) is None
    monkeypatch.delenv("ATTUNEMENT_EMBEDDED_WORKER")
    started = start_embedded(store, cfg)
    assert started is not None
    thread, stop = started
    try:
        for _ in range(200):
            if smtp.mailbox.raw:
                break
            threading.Event().wait(0.05)
    finally:
        stop.set()
        thread.join(10)
    assert [m["To"] for m in smtp.mailbox.messages()] == ["north@example.org"]


def test_cli_run_once_with_now_prints_what_it_sent(tmp_path, smtp, monkeypatch):
    from typer.testing import CliRunner

    from attunement.cli import app

    url, key = f"sqlite:///{tmp_path / 'cli.db'}", tmp_path / "cli.key"
    st = Store.open(url, key_path=key)
    st.init("admin@example.org", PASSWORD)
    make_world(st, father=False)
    st.close()
    monkeypatch.setenv("ATTUNEMENT_SMTP", f"127.0.0.1:{smtp.port}")
    runner = CliRunner()
    args = ["platform", "outreach", "run-once", "--db", url, "--key-file", str(key)]
    r = runner.invoke(app, [*args, "--now", "2026-10-18T09:00"])
    assert r.exit_code == 0, r.output
    assert re.search(r"sent\s+invitation\s+email\s+family 1", r.output)
    assert "1 sent, 0 not sent" in r.output
    r = runner.invoke(app, [*args, "--now", "2026-10-18T10:00"])
    assert "0 sent, 0 not sent" in r.output and len(smtp.mailbox.raw) == 1
    r = runner.invoke(app, [*args, "--now", "yesterday"])
    assert r.exit_code == 1 and "--now" in r.output
    monkeypatch.setenv("ATTUNEMENT_SMTP", "no-port")
    r = runner.invoke(app, args)
    assert r.exit_code == 1 and "ATTUNEMENT_SMTP" in r.output


def test_a_message_claimed_by_a_worker_that_died_is_taken_over_after_the_lease(store, smtp):
    make_world(store, father=False)
    records = OutreachRecords(store)
    dead = Worker(store, config(smtp), name="dead")
    dead.plan(OPENS)
    [claimed] = records.claim("dead", OPENS)  # ... and the process dies before sending
    live = Worker(store, config(smtp), name="live")
    assert live.deliver_due(OPENS + timedelta(minutes=9)) == []
    [r] = live.deliver_due(OPENS + timedelta(minutes=11))
    assert r["status"] == "sent" and len(smtp.mailbox.raw) == 1
    # the dead worker's late result does not overwrite the live one's
    records.record(claimed, "failed", error="late")
    [m] = records.all_messages()
    assert (m["status"], m["claimed_by"], m["attempts"]) == ("sent", "live", 2)
