"""The pure parts of outreach: planning rules (hand-worked dates), back-off, configuration
and template validation."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from attunement.outreach import OutreachConfig, OutreachConfigError, planning, templates
from attunement.outreach.channels import opaque
from attunement.outreach.urgency import is_emergency

ITEM = {"caregiver_id": 7, "instrument": "epds", "time_point": "6w", "family_id": 3,
        "site_id": 1, "opens": date(2026, 10, 18), "closes": date(2026, 11, 15),
        "language": "cy", "method": "sms", "opted_out": False}


def at(day: str, hour: int = 9) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def plan(now: datetime, history: dict | None = None, item: dict = ITEM) -> list[dict]:
    return planning.questionnaire_messages([item], history or {}, now, [3, 7])


def test_invitation_on_the_day_the_window_opens_not_before():
    assert plan(at("2026-10-17", 23)) == []
    [m] = plan(at("2026-10-18", 0))
    assert (m["key"], m["kind"], m["stage"], m["channel"], m["language"]) == (
        "q:7:epds:6w:0", "invitation", 0, "sms", "cy")


def test_reminders_three_and_seven_days_after_the_invitation_then_none():
    first = at("2026-10-20", 14)  # invited two days late (the worker was stopped)
    assert plan(at("2026-10-22"), {(7, "epds", "6w"): (1, first)}) == []
    [m] = plan(at("2026-10-23", 0), {(7, "epds", "6w"): (1, first)})
    assert (m["key"], m["kind"], m["stage"]) == ("q:7:epds:6w:1", "reminder", 1)
    assert plan(at("2026-10-26"), {(7, "epds", "6w"): (2, first)}) == []
    [m] = plan(at("2026-10-27"), {(7, "epds", "6w"): (2, first)})
    assert m["key"] == "q:7:epds:6w:2"
    assert plan(at("2026-11-10"), {(7, "epds", "6w"): (3, first)}) == []


def test_nothing_after_the_window_closes_and_opt_out_is_recorded_not_sent():
    assert plan(at("2026-11-16")) == []
    [m] = plan(at("2026-11-15"), item={**ITEM, "opted_out": True})
    assert (m["status"], m["last_error"]) == ("skipped", "the caregiver opted out")


def test_a_stopped_worker_sends_only_the_reminder_due_not_every_one_missed():
    first = at("2026-10-18")
    out = plan(at("2026-11-01"), {(7, "epds", "6w"): (1, first)})
    assert [m["stage"] for m in out] == [1]


ALERT = {"id": 5, "kind": "safety", "flag_id": "epds_self_harm", "family_id": 3, "site_id": 1,
         "created_at": at("2026-10-18", 10), "created_by": 11, "practitioners": [11, 12],
         "site_leads": [20], "site": "North"}


def alerts(now: datetime, alert: dict = ALERT, emergency=lambda k, f: False) -> list[str]:
    return sorted(m["key"] for m in planning.alert_messages(
        [alert], now, timedelta(hours=2), {"North": ["duty@example.org"]}, emergency))


def test_alert_to_the_registering_practitioner_then_duty_list_then_site_lead():
    t = ALERT["created_at"]
    assert alerts(t) == ["a:5:0:u11"]
    assert alerts(t + timedelta(minutes=119, seconds=59)) == ["a:5:0:u11"]
    assert alerts(t + timedelta(hours=2)) == ["a:5:0:u11", "a:5:1:d:duty@example.org"]
    assert alerts(t + timedelta(hours=4)) == [
        "a:5:0:u11", "a:5:1:d:duty@example.org", "a:5:2:u20"]


def test_alert_goes_to_every_practitioner_when_its_registrar_is_not_one():
    assert alerts(ALERT["created_at"], {**ALERT, "created_by": None}) == ["a:5:0:u11",
                                                                         "a:5:0:u12"]


def test_emergency_goes_to_the_duty_list_at_once_and_the_site_lead_after_one_period():
    t = ALERT["created_at"]
    assert alerts(t, emergency=lambda k, f: True) == ["a:5:0:u11", "a:5:1:d:duty@example.org"]
    assert "a:5:2:u20" in alerts(t + timedelta(hours=2), emergency=lambda k, f: True)


def test_emergency_kind_is_read_from_one_function():
    assert is_emergency("suspected_psychosis") and is_emergency("harm_intent")
    assert not is_emergency("safety", "epds_self_harm") and not is_emergency("unknown")


def test_back_off_doubles_and_is_capped():
    assert [planning.backoff(n, 60, 600).total_seconds() for n in range(1, 6)] == [
        60, 120, 240, 480, 600]


def test_config_from_env_and_its_errors_name_the_setting(tmp_path):
    cfg = OutreachConfig.from_env({"ATTUNEMENT_SMTP": "mail.example.org:2525",
                                   "ATTUNEMENT_SMTP_TLS": "starttls"})
    assert (cfg.smtp_host, cfg.smtp_port, cfg.smtp_tls, cfg.configured) == (
        "mail.example.org", 2525, "starttls", True)
    with pytest.raises(OutreachConfigError, match="ATTUNEMENT_SMTP: expected host:port"):
        OutreachConfig.from_env({"ATTUNEMENT_SMTP": "mail.example.org"})
    path = tmp_path / "outreach.yaml"
    path.write_text("outreach:\n  reminder_days: [7, 3]\n")
    with pytest.raises(OutreachConfigError, match=r"outreach.yaml: reminder_days: must be"):
        OutreachConfig.from_env({"ATTUNEMENT_OUTREACH_FILE": str(path)})
    path.write_text("duty_lists:\n  North: [not-an-address]\n")
    with pytest.raises(OutreachConfigError, match=r"duty_lists.North"):
        OutreachConfig.from_env({"ATTUNEMENT_OUTREACH_FILE": str(path)})
    path.write_text("smtp_hots: x\n")
    with pytest.raises(OutreachConfigError, match="unknown setting 'smtp_hots'"):
        OutreachConfig.from_env({"ATTUNEMENT_OUTREACH_FILE": str(path)})
    path.write_text("escalate_after_minutes: 30\nduty_lists:\n  North: [duty@example.org]\n")
    cfg = OutreachConfig.from_env({"ATTUNEMENT_OUTREACH_FILE": str(path)})
    assert cfg.escalate_after_minutes == 30 and not cfg.configured


def test_shipped_templates_render_every_kind_and_fall_back_to_english():
    ctx = {"service": "S", "link": "https://x/c/T", "expires": "2026-10-21 09:00 UTC",
           "crisis_contacts": [{"name": "Helpline", "phone": "116 123"}]}
    for lang in ("en", "es"):
        for kind in templates.CAREGIVER_KINDS:
            for channel in ("email", "sms"):
                out, used = templates.render(kind, channel, lang, ctx)
                assert used == lang and "https://x/c/T" in out.body
    out, used = templates.render("invitation", "email", "pl", ctx)
    assert used == "en" and "Helpline: 116 123" in out.body
    out, used = templates.render("alert", "email", "es", {"service": "S", "link": "L"})
    assert used == "en" and out.subject == "S: an urgent flag needs review"


def test_a_spanish_message_names_the_crisis_contacts_in_spanish_where_translated():
    from attunement.vocabulary import load_vocabulary

    ctx = {"service": "S", "link": "L", "expires": "E",
           "crisis_contacts": [*load_vocabulary().contacts(), {"name": "Helpline", "phone": "1"}]}
    for kind in ("invitation", "reminder"):
        out, used = templates.render(kind, "email", "es", ctx)
        assert used == "es" and "  - Servicios de emergencia: 999" in out.body
        assert "  - Helpline: 1" in out.body  # no translation: its English name, never nothing
        assert "Emergency services" not in out.body


def test_a_broken_template_file_is_refused_naming_file_and_field(tmp_path):
    (tmp_path / "fr.yaml").write_text(
        "language: fr\ninvitation:\n  subject: x\n  email: '{{ link'\n  sms: y\n")
    with pytest.raises(templates.TemplateFileError, match=r"fr.yaml: invitation.email"):
        templates.load_all(str(tmp_path))
    (tmp_path / "fr.yaml").write_text("language: fr\ninvitation:\n  subject: x\n  email: y\n")
    with pytest.raises(templates.TemplateFileError, match=r"fr.yaml: invitation.sms: missing"):
        templates.load_all(str(tmp_path) + "/")


def test_the_outside_world_gets_an_opaque_reference_not_the_key():
    ref = opaque("q:7:epds:6w:0")
    assert len(ref) == 32 and "epds" not in ref and ref == opaque("q:7:epds:6w:0")


LONDON_OFFICE = {"start": "09:00", "end": "17:00", "days": [0, 1, 2, 3, 4],
                 "timezone": "Europe/London"}


def test_working_hours_hand_worked():
    hours = OutreachConfig(working_hours=LONDON_OFFICE).escalation_hours()
    two = timedelta(hours=2)
    utc = lambda s: datetime.fromisoformat(s).replace(tzinfo=UTC)  # noqa: E731
    # 2026-12-04 is a Friday; London is on GMT (UTC+0) in December
    assert hours.add(utc("2026-12-03T10:00"), two) == utc("2026-12-03T12:00")
    assert hours.add(utc("2026-12-04T16:30"), two) == utc("2026-12-07T10:30")  # Fri -> Mon
    assert hours.add(utc("2026-12-05T23:00"), two) == utc("2026-12-07T11:00")  # Sat night
    assert hours.add(utc("2026-12-03T16:00"), 2 * two) == utc("2026-12-04T12:00")
    assert hours.add(utc("2026-12-03T17:00"), two) == utc("2026-12-04T11:00")  # at closing
    # 2026-07-01 is a Wednesday; 08:00 UTC is 09:00 British Summer Time
    assert hours.add(utc("2026-07-01T08:00"), two) == utc("2026-07-01T10:00")
    assert hours.add(utc("2026-07-01T07:00"), two) == utc("2026-07-01T10:00")  # before opening


def test_escalation_waits_for_working_hours_but_an_emergency_does_not():
    hours = OutreachConfig(working_hours=LONDON_OFFICE).escalation_hours()
    friday = {**ALERT, "created_at": at("2026-12-04", 16)}

    def keys(now: datetime, emergency: bool = False) -> list[str]:
        return sorted(m["key"] for m in planning.alert_messages(
            [friday], now, timedelta(hours=2), {"North": ["duty@example.org"]},
            lambda k, f: emergency, clock=hours.add))

    assert keys(at("2026-12-05", 12)) == ["a:5:0:u11"]  # Saturday: no escalation yet
    assert keys(datetime(2026, 12, 7, 9, 59, tzinfo=UTC)) == ["a:5:0:u11"]
    assert keys(datetime(2026, 12, 7, 10, 0, tzinfo=UTC)) == [
        "a:5:0:u11", "a:5:1:d:duty@example.org"]
    assert keys(at("2026-12-04", 16), emergency=True) == [
        "a:5:0:u11", "a:5:1:d:duty@example.org"]


def test_working_hours_errors_name_the_field():
    for bad, field in (({"start": "9am"}, "start/end"), ({"start": "18:00"}, "end"),
                       ({"days": [7]}, "days"), ({"timezone": "Mars/Olympus"}, "timezone"),
                       ({"lunch": "12:00"}, "working_hours")):
        with pytest.raises(OutreachConfigError, match=field):
            OutreachConfig.from_mapping({"working_hours": bad}, "outreach.yaml")


def test_an_escalation_with_no_one_to_notify_is_recorded_as_failed_not_dropped():
    lonely = {**ALERT, "site_leads": [], "site": "South"}
    out = planning.alert_messages([lonely], ALERT["created_at"] + timedelta(hours=4),
                                  timedelta(hours=2), {"North": ["duty@example.org"]},
                                  lambda k, f: False)
    failed = sorted((m["key"], m["last_error"]) for m in out if m["status"] == "failed")
    assert failed == [("a:5:1:nobody", "no one to notify: site 'South' has no duty list"),
                      ("a:5:2:nobody", "no one to notify: site 'South' has no site lead")]
