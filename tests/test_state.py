"""The state-signing module: signatures, expiry, key rotation, purpose separation."""

from __future__ import annotations

import time

import pytest

from oauth_service.state import Signer, StateCodec, StateError, binding_hash, same_browser

KEYS = ("first-secret-key-0123456789", "second-secret-key-0123456789")


def test_round_trip_carries_flow_and_provider():
    codec = StateCodec(KEYS, ttl=600)
    state = codec.decode(codec.encode("flow-1", "google"))
    assert (state.flow_id, state.provider) == ("flow-1", "google")


def test_tampered_state_is_refused_as_forged():
    codec = StateCodec(KEYS, ttl=600)
    token = codec.encode("flow-1", "google")
    for forged in (token[:-2] + ("AA" if not token.endswith("AA") else "BB"), token[:20], "", "x" * 3000):
        with pytest.raises(StateError) as info:
            codec.decode(forged)
        assert not info.value.expired


def test_expired_state_keeps_its_payload_but_is_refused():
    codec = StateCodec(KEYS, ttl=1)
    token = codec.encode("flow-1", "microsoft")
    time.sleep(2.1)
    with pytest.raises(StateError) as info:
        codec.decode(token)
    assert info.value.expired
    assert info.value.payload.flow_id == "flow-1"


def test_rotation_first_key_signs_every_key_verifies():
    old = StateCodec(KEYS[1:], ttl=600)
    rotated = StateCodec(KEYS, ttl=600)
    assert rotated.decode(old.encode("f", "google")).flow_id == "f"
    # Once the old key is retired, what it signed is refused.
    retired = StateCodec(KEYS[:1], ttl=600)
    with pytest.raises(StateError):
        retired.decode(old.encode("f", "google"))


def test_keys_are_derived_per_purpose():
    link = Signer(KEYS, "link-session-url").sign("ls_1")
    with pytest.raises(StateError):
        Signer(KEYS, "oauth-state").verify(link, max_age=600)


def test_browser_binding_compares_hashes():
    assert same_browser("secret", binding_hash("secret"))
    assert not same_browser("other", binding_hash("secret"))
    assert not same_browser(None, binding_hash("secret"))
    assert not same_browser("secret", None)
