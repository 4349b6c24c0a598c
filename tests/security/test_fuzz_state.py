"""Property-based tests of state verification: no generated input is accepted that we did not
sign, and nothing but StateError ever comes out of a refusal."""

from __future__ import annotations

import string

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from oauth_service.state import FlowState, Signer, StateCodec, StateError

KEYS = ("fuzz-secret-key-0123456789", "fuzz-older-key-0123456789")
CODEC = StateCodec(KEYS, ttl=600)
GENUINE = CODEC.encode("flow-genuine", "google")
URLSAFE = string.ascii_letters + string.digits + "-_."
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def decode_or_refuse(token: str) -> FlowState | None:
    try:
        return CODEC.decode(token)
    except StateError as exc:
        assert exc.payload is None or isinstance(exc.payload, FlowState)
        return None


@FUZZ
@given(st.text(max_size=3000))
@example("")
@example("." * 3)
@example("\x00")
@example("e30.AAAAAA.AAAA")
def test_arbitrary_text_is_refused_with_state_error(token):
    assert decode_or_refuse(token) is None


@FUZZ
@given(st.text(alphabet=URLSAFE, max_size=300))
def test_arbitrary_token_shaped_text_is_refused(token):
    assume(token != GENUINE)
    assert decode_or_refuse(token) is None


@FUZZ
@given(st.data())
def test_a_mutated_genuine_state_never_decodes_to_anything_else(data):
    # One edit anywhere: the result is refused, or (base64 slack in the signature's last
    # character) still means exactly what we signed, never another flow or provider.
    position = data.draw(st.integers(0, len(GENUINE)))
    kind = data.draw(st.sampled_from(["replace", "insert", "delete", "truncate", "extend"]))
    char = data.draw(st.sampled_from(URLSAFE + "=+/ %"))
    if kind == "replace" and position < len(GENUINE):
        mutated = GENUINE[:position] + char + GENUINE[position + 1 :]
    elif kind == "insert":
        mutated = GENUINE[:position] + char + GENUINE[position:]
    elif kind == "delete" and position < len(GENUINE):
        mutated = GENUINE[:position] + GENUINE[position + 1 :]
    elif kind == "truncate":
        mutated = GENUINE[:position]
    else:
        mutated = GENUINE + char * (position % 5 + 1)
    assume(mutated != GENUINE)
    decoded = decode_or_refuse(mutated)
    assert decoded is None or decoded == FlowState("flow-genuine", "google")


@FUZZ
@given(st.text(min_size=16, max_size=64), st.text(min_size=16, max_size=64), st.text(max_size=64))
def test_a_state_signed_with_any_other_key_is_refused(ours, theirs, flow_id):
    assume(ours != theirs)
    forged = StateCodec((theirs,), ttl=600).encode(flow_id, "google")
    try:
        StateCodec((ours,), ttl=600).decode(forged)
    except StateError:
        return
    raise AssertionError("a state signed with a key we do not hold was accepted")


@FUZZ
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
        max_leaves=10,
    )
)
def test_a_genuinely_signed_payload_of_the_wrong_shape_is_refused(payload):
    # Signed by us for this purpose but not a {"f": str, "p": str}: refused, never a crash.
    token = Signer(KEYS, "oauth-state").sign(payload)
    shaped = isinstance(payload, dict) and all(isinstance(payload.get(k), str) for k in ("f", "p"))
    decoded = decode_or_refuse(token)
    assert (decoded is not None) == shaped


@FUZZ
@given(st.sampled_from(["link-session-url", "webhook", "oauth-state-v2", "OAUTH-STATE", ""]), st.text())
def test_a_value_signed_for_another_purpose_is_refused(purpose, flow_id):
    token = Signer(KEYS, purpose).sign({"f": flow_id, "p": "google"})
    assert decode_or_refuse(token) is None


@FUZZ
@given(st.text(max_size=64), st.sampled_from(["google", "microsoft"]))
def test_every_state_we_sign_round_trips(flow_id, provider):
    assert CODEC.decode(CODEC.encode(flow_id, provider)) == FlowState(flow_id, provider)
