"""Passwords (argon2id), login throttling, API tokens, account state."""

from __future__ import annotations

import pytest

from attunement.store import AuthError, StoreValidationError

PASSWORD = "correct horse battery staple"


def test_production_password_hashes_are_argon2id():
    from argon2 import extract_parameters

    from attunement.store.accounts import _DUMMY_HASH

    assert _DUMMY_HASH.startswith("$argon2id$")
    params = extract_parameters(_DUMMY_HASH)
    assert params.memory_cost >= 19 * 1024 and params.time_cost >= 2  # OWASP minimum


def test_login_throttles_after_repeated_failures(world):
    st = world.store
    for _ in range(5):
        with pytest.raises(AuthError) as err:
            st.accounts.authenticate("north@example.org", "not the password", client="10.0.0.9")
        assert err.value.retry_after is None
    with pytest.raises(AuthError) as err:  # even the right password waits now
        st.accounts.authenticate("north@example.org", PASSWORD, client="10.0.0.9")
    assert err.value.retry_after and 0 < err.value.retry_after <= 15 * 60
    log = st.maintenance.audit_log(world.admin, limit=6)
    assert [e["action"] for e in log] == ["login_failed"] * 6
    assert log[0]["reason"] == "throttled" and log[0]["client"] == "10.0.0.9"
    # another account is not locked out by this
    assert st.accounts.authenticate("south@example.org", PASSWORD).email == "south@example.org"


def test_unknown_user_and_wrong_password_get_the_same_answer(world):
    st = world.store
    with pytest.raises(AuthError) as a:
        st.accounts.authenticate("nobody@example.org", PASSWORD)
    with pytest.raises(AuthError) as b:
        st.accounts.authenticate("north@example.org", "wrong password")
    assert str(a.value) == str(b.value)


def test_api_tokens_carry_the_users_rights_and_can_be_revoked(world):
    st = world.store
    token = st.accounts.create_api_token(world.north)
    actor = st.accounts.actor_for_token(token)
    assert actor == world.north
    with st.db.read() as s:
        from sqlalchemy import select

        from attunement.store.models import ApiToken

        stored = s.execute(select(ApiToken.token_hash)).scalars().all()
    assert token not in stored and len(stored) == 1
    st.accounts.revoke_api_token(world.north, token)
    with pytest.raises(AuthError):
        st.accounts.actor_for_token(token)
    with pytest.raises(AuthError):
        st.accounts.actor_for_token("att_made_up")


def test_disabled_user_cannot_log_in_or_use_tokens(world):
    st = world.store
    token = st.accounts.create_api_token(world.north)
    st.accounts.set_user_active(world.admin, world.north.user_id, False, reason="left the service")
    with pytest.raises(AuthError):
        st.accounts.authenticate("north@example.org", PASSWORD)
    with pytest.raises(AuthError):
        st.accounts.actor_for_token(token)
    with pytest.raises(AuthError):
        st.actor(world.north.user_id)


def test_user_input_is_checked(world):
    st = world.store
    cases = [
        (("not-an-email", "practitioner", ["North"], PASSWORD), "email"),
        (("a@example.org", "wizard", ["North"], PASSWORD), "role"),
        (("a@example.org", "practitioner", ["North"], "short"), "password"),
        (("a@example.org", "practitioner", [], PASSWORD), "sites"),
        (("a@example.org", "practitioner", ["Atlantis"], PASSWORD), "sites.0"),
        (("north@example.org", "practitioner", ["North"], PASSWORD), "email"),
    ]
    for args, field in cases:
        with pytest.raises(StoreValidationError) as err:
            st.accounts.add_user(world.system, *args)
        assert err.value.field == field, (args, err.value)


def test_site_lead_manages_only_their_own_site(world):
    from attunement.store import Forbidden

    st = world.store
    lead = st.actor(
        st.accounts.add_user(world.system, "lead@example.org", "site_lead", ["North"], PASSWORD)["id"]
    )
    st.accounts.add_user(lead, "new@example.org", "practitioner", ["North"], PASSWORD)
    with pytest.raises(StoreValidationError):
        st.accounts.add_user(lead, "new2@example.org", "practitioner", ["South"], PASSWORD)
    with pytest.raises(Forbidden):
        st.accounts.add_user(lead, "boss@example.org", "admin", ["North"], PASSWORD)
    emails = {u["email"] for u in st.accounts.list_users(lead)}
    assert "new@example.org" in emails and "south@example.org" not in emails


def test_password_change_needs_the_current_one_and_revokes_tokens(world):
    from attunement.store import Forbidden

    st = world.store
    token = st.accounts.create_api_token(world.north)
    with pytest.raises(StoreValidationError) as err:
        st.accounts.set_password(
            world.north, world.north.user_id, "a brand new passphrase", current_password="wrong"
        )
    assert err.value.field == "current_password"
    with pytest.raises(StoreValidationError):
        st.accounts.set_password(world.north, world.north.user_id, "a brand new passphrase")
    st.accounts.set_password(
        world.north, world.north.user_id, "a brand new passphrase", current_password=PASSWORD
    )
    with pytest.raises(AuthError):
        st.accounts.actor_for_token(token)
    assert st.accounts.authenticate("north@example.org", "a brand new passphrase").user_id
    with pytest.raises(Forbidden):
        st.accounts.set_password(world.north, world.south.user_id, "someone elses pw!")
    st.accounts.set_password(world.admin, world.south.user_id, "reset by the admin")  # an admin reset
    assert st.accounts.authenticate("south@example.org", "reset by the admin").user_id


def test_account_expiry(world):
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from attunement.store.models import User

    st = world.store
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date()
    u = st.accounts.add_user(
        world.system, "temp@example.org", "practitioner", ["North"], PASSWORD, expires_on=tomorrow
    )
    assert u["expires_on"] == tomorrow.isoformat()
    assert st.accounts.authenticate("temp@example.org", PASSWORD).user_id == u["id"]
    with pytest.raises(StoreValidationError):
        st.accounts.add_user(
            world.system,
            "t2@example.org",
            "practitioner",
            ["North"],
            PASSWORD,
            expires_on="2020-01-01",
        )
    with st.db.write() as s:  # time passes
        s.execute(
            update(User)
            .where(User.id == u["id"])
            .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )
    with pytest.raises(AuthError):
        st.accounts.authenticate("temp@example.org", PASSWORD)
    with pytest.raises(AuthError):
        st.actor(u["id"])
