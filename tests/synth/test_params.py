"""ParamSpace: unit cube <-> physical values, scales, choices, locking, narrowing, validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synth.params import Param, ParamSpace, PatchValueError
from synth.voices import SUBTRACTIVE

SPACE = SUBTRACTIVE.space
CONTINUOUS = [p for p in SPACE.params if not p.is_choice]
CHOICES = [p for p in SPACE.params if p.is_choice]
LOG = [p for p in CONTINUOUS if p.scale == "log"]

unit = st.floats(0.0, 1.0, allow_nan=False)
any_real = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


def _physical_patch() -> st.SearchStrategy:
    """A full patch of in-range physical values and valid choice names."""
    fields = {}
    for p in SPACE.params:
        if p.is_choice:
            fields[p.name] = st.sampled_from(p.choices)
        elif p.scale == "log":
            fields[p.name] = st.floats(math.log(p.low), math.log(p.high)).map(lambda x, p=p: min(max(math.exp(x), p.low), p.high))
        else:
            fields[p.name] = st.floats(p.low, p.high)
    return st.fixed_dictionaries(fields)


patches = _physical_patch()


# -- round trips ---------------------------------------------------------------
@given(patches)
def test_decode_encode_round_trip_of_a_patch(values):
    back = SPACE.decode(SPACE.encode(values))
    assert list(back) == SPACE.names
    for p in SPACE.params:
        if p.is_choice:
            assert back[p.name] == values[p.name]
        else:
            assert back[p.name] == pytest.approx(values[p.name], rel=1e-9, abs=1e-12)


@given(st.lists(unit, min_size=SPACE.dim, max_size=SPACE.dim))
def test_encode_decode_round_trip_of_a_unit_vector(u):
    u = np.array(u)
    back = SPACE.encode(SPACE.decode(u))
    for i, p in enumerate(SPACE.free):
        if p.is_choice:
            # Choices come back at the centre of the same bin.
            k = len(p.choices)
            assert min(int(back[i] * k), k - 1) == min(int(u[i] * k), k - 1)
            assert back[i] == pytest.approx((min(int(u[i] * k), k - 1) + 0.5) / k)
        else:
            assert back[i] == pytest.approx(u[i], abs=1e-9)


@given(st.lists(any_real, min_size=SPACE.dim, max_size=SPACE.dim))
def test_decode_is_always_within_bounds_even_outside_the_unit_cube(u):
    values = SPACE.decode(np.array(u))
    for p in SPACE.params:
        v = values[p.name]
        if p.is_choice:
            assert v in p.choices
        else:
            assert isinstance(v, float) and math.isfinite(v)
            assert p.low <= v <= p.high
    # Out-of-cube input behaves as if clipped.
    assert SPACE.decode(np.array(u)) == SPACE.decode(np.clip(u, 0.0, 1.0))


@given(patches)
def test_encode_is_within_the_unit_cube(values):
    u = SPACE.encode(values)
    assert u.shape == (SPACE.dim,)
    assert np.all((u >= 0.0) & (u <= 1.0))


@pytest.mark.parametrize("p", LOG, ids=lambda p: p.name)
def test_log_scale_is_geometric(p):
    assert p.decode(0.5) == pytest.approx(math.sqrt(p.low * p.high), rel=1e-12)
    assert p.decode(0.0) == pytest.approx(p.low) and p.decode(1.0) == pytest.approx(p.high)
    # Equal steps in u are equal ratios in value.
    values = np.array([p.decode(u) for u in np.linspace(0, 1, 9)])
    ratios = values[1:] / values[:-1]
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-9)
    assert ratios[0] > 1


@given(st.floats(0.05, 100.0), st.floats(1.01, 1e4), unit)
def test_log_param_decodes_geometrically_for_any_range(low, ratio, u):
    p = Param("x", "Hz", low, low * ratio, "log")
    assert p.decode(u) == pytest.approx(low * ratio**u, rel=1e-9)
    assert p.encode(p.decode(u)) == pytest.approx(u, abs=1e-9)


def test_linear_scale_is_arithmetic():
    p = SPACE["env_sustain"]
    assert p.decode(0.5) == pytest.approx((p.low + p.high) / 2)
    assert p.decode(0.25) == pytest.approx(p.low + 0.25 * (p.high - p.low))


@pytest.mark.parametrize("p", CHOICES, ids=lambda p: p.name)
def test_choices_round_trip_exactly_and_bins_are_equal(p):
    k = len(p.choices)
    for i, c in enumerate(p.choices):
        assert p.decode(p.encode(c)) == c
        # Every point of bin i decodes to choice i.
        for u in np.linspace(i / k + 1e-9, (i + 1) / k - 1e-9, 7):
            assert p.decode(u) == c
    assert p.decode(1.0) == p.choices[-1]
    assert p.decode(0.0) == p.choices[0]


def test_encode_clips_out_of_range_values():
    p = SPACE["osc_freq"]
    assert p.encode(p.low / 10) == 0.0
    assert p.encode(p.high * 10) == 1.0


def test_decode_rejects_a_vector_of_the_wrong_length():
    with pytest.raises(ValueError):
        SPACE.decode(np.zeros(SPACE.dim + 1))


# -- lock / unlock / narrow ---------------------------------------------------------
def test_lock_removes_parameters_from_the_vector_and_fixes_their_value():
    locked = SPACE.lock(osc_freq=220.0, osc_type="square")
    assert locked.dim == SPACE.dim - 2
    assert "osc_freq" not in [p.name for p in locked.free]
    rng = np.random.default_rng(0)
    for _ in range(20):
        v = locked.decode(rng.random(locked.dim))
        assert v["osc_freq"] == 220.0 and v["osc_type"] == "square"
        assert list(v) == SPACE.names  # the patch is still complete, in voice order
    # The original space is untouched (spaces are immutable values).
    assert SPACE.dim == len(SPACE.params) and not SPACE.locked


def test_lock_round_trip_and_index_of_free_parameters():
    locked = SPACE.lock(duree=1.0, master_vol=1.0)
    u = np.full(locked.dim, 0.3)
    back = locked.encode(locked.decode(u))
    continuous = [i for i, p in enumerate(locked.free) if not p.is_choice]
    np.testing.assert_allclose(back[continuous], 0.3)
    assert locked.index("osc_freq") == [p.name for p in locked.free].index("osc_freq")
    assert locked.index("osc_freq") == SPACE.index("osc_freq") - 1  # duree came before it
    with pytest.raises(ValueError):
        locked.index("duree")


def test_lock_checks_values():
    with pytest.raises(PatchValueError):
        SPACE.lock(osc_freq=1e6)
    with pytest.raises(PatchValueError):
        SPACE.lock(osc_type="sawtooth")
    with pytest.raises(ValueError):
        ParamSpace(SPACE.params, locked={"nope": 1.0})


def test_unlock_frees_a_parameter_again():
    locked = SPACE.lock(osc_freq=220.0, osc_type="sine")
    back = locked.unlock("osc_freq")
    assert back.dim == SPACE.dim - 1
    assert back.locked == {"osc_type": "sine"}


@given(st.floats(80.0, 1000.0), st.floats(1.001, 1.9), st.lists(any_real, min_size=SPACE.dim, max_size=SPACE.dim))
def test_narrow_restricts_decoded_values(centre, ratio, u):
    lo, hi = centre / ratio, centre * ratio
    narrow = SPACE.narrow("osc_freq", lo, hi)
    assert narrow.dim == SPACE.dim
    v = narrow.decode(np.array(u))["osc_freq"]
    assert lo * (1 - 1e-12) <= v <= hi * (1 + 1e-12)
    # Still geometric over the new range.
    assert narrow["osc_freq"].decode(0.5) == pytest.approx(centre, rel=1e-9)


def test_narrow_clips_to_the_parameter_bounds_and_rejects_empty_ranges():
    p = SPACE["filter_cutoff"]
    wide = SPACE.narrow("filter_cutoff", 1.0, 1e9)
    assert (wide["filter_cutoff"].low, wide["filter_cutoff"].high) == (p.low, p.high)
    with pytest.raises(ValueError):
        SPACE.narrow("filter_cutoff", 5000.0, 4000.0)
    with pytest.raises(ValueError):
        SPACE.narrow("filter_cutoff", 2 * p.high, 3 * p.high)


def test_narrow_then_lock_compose():
    space = SPACE.narrow("osc_freq", 200.0, 300.0).lock(osc_type="triangle", duree=0.5)
    v = space.decode(np.zeros(space.dim))
    assert v["osc_freq"] == pytest.approx(200.0) and v["osc_type"] == "triangle" and v["duree"] == 0.5


# -- Param construction and patch validation ----------------------------------------
@pytest.mark.parametrize(
    "kwargs",
    [dict(low=1.0, high=1.0), dict(low=2.0, high=1.0), dict(low=0.0, high=1.0, scale="log"), dict(low=1.0, high=2.0, scale="cubic")],
)
def test_param_rejects_bad_definitions(kwargs):
    with pytest.raises(ValueError):
        Param("x", **kwargs)


def test_space_rejects_duplicate_names():
    with pytest.raises(ValueError):
        ParamSpace((Param("a"), Param("a")))


@pytest.mark.parametrize(
    "name, value, fragment",
    [
        ("osc_freq", "440", "expected a number"),
        ("osc_freq", True, "expected a number"),
        ("osc_freq", None, "expected a number"),
        ("osc_freq", float("nan"), "not finite"),
        ("osc_freq", float("inf"), "not finite"),
        ("osc_freq", 5.0, "out of range"),
        ("osc_vol", 1.5, "out of range"),
        ("osc_type", "sawtooth", "unknown choice"),
        ("osc_type", 1, "expected one of"),
    ],
)
def test_check_rejects_bad_values_naming_the_parameter(patch, name, value, fragment):
    bad = patch(**{name: value})
    with pytest.raises(PatchValueError) as exc:
        SPACE.check(bad)
    assert name in str(exc.value) and fragment in str(exc.value)


def test_check_rejects_missing_and_unknown_parameters(patch):
    p = patch()
    del p["env_decay"]
    with pytest.raises(PatchValueError, match="missing.*env_decay"):
        SPACE.check(p)
    with pytest.raises(PatchValueError, match="unknown.*wobble"):
        SPACE.check({**patch(), "wobble": 1.0})
    with pytest.raises(PatchValueError, match="object"):
        SPACE.check([1, 2, 3])


def test_check_accepts_ints_and_values_at_the_bounds(patch):
    p = patch(osc_vol=1, noise_vol=0, osc_freq=SPACE["osc_freq"].low, filter_cutoff=SPACE["filter_cutoff"].high)
    out = SPACE.check(p)
    assert out["osc_vol"] == 1.0 and isinstance(out["osc_vol"], float)
    assert out["osc_freq"] == SPACE["osc_freq"].low


@settings(max_examples=50)
@given(st.lists(any_real, min_size=SPACE.dim, max_size=SPACE.dim))
def test_every_decoded_patch_passes_check(u):
    values = SPACE.decode(np.array(u))
    assert SPACE.check(values) == values


@given(st.lists(st.floats(allow_nan=False), min_size=SPACE.dim, max_size=SPACE.dim))
def test_decode_handles_infinite_and_huge_input(u):
    values = SPACE.decode(np.array(u))
    for p in CONTINUOUS:
        assert p.low <= values[p.name] <= p.high


def test_decode_rejects_nan_instead_of_passing_it_through():
    u = np.full(SPACE.dim, 0.5)
    for i in range(SPACE.dim):
        bad = u.copy()
        bad[i] = np.nan
        with pytest.raises(ValueError, match="NaN"):
            SPACE.decode(bad)
