"""The SynthDef and OSC encoders scsynth reads (byte layouts checked by hand against SuperCollider's format docs)."""

from __future__ import annotations

import struct

import pytest

from experiments.foreign.sc_binary import AR, SynthDefGraph, nrt_score, osc_bundle, osc_message


def test_osc_message_padding_and_types():
    m = osc_message("/s_new", "note", 1000, 0.5, b"\x01\x02\x03")
    assert m[:8] == b"/s_new\0\0"
    assert m[8:16] == b",sifb\0\0\0"
    assert m[16:24] == b"note\0\0\0\0"
    assert struct.unpack(">i", m[24:28]) == (1000,) and struct.unpack(">f", m[28:32]) == (0.5,)
    assert m[32:] == struct.pack(">i", 3) + b"\x01\x02\x03\0"
    assert len(m) % 4 == 0
    with pytest.raises(TypeError):
        osc_message("/x", True)


def test_bundle_time_tag_and_score_framing():
    b = osc_bundle(1.5, [osc_message("/c_set", 0, 0)])
    assert b[:8] == b"#bundle\0" and struct.unpack(">II", b[8:16]) == (1, 2**31)
    score = nrt_score([b, b])
    assert struct.unpack(">i", score[:4]) == (len(b),) and len(score) == 2 * (4 + len(b))


def test_synthdef_layout():
    g = SynthDefGraph("t")
    osc = g.ugen("SinOsc", AR, [440.0, 0.0])
    g.ugen("Out", AR, [0.0, g.mul(osc, 0.25)], n_outputs=0)
    data = g.encode()
    assert data[:4] == b"SCgf" and struct.unpack(">iH", data[4:10]) == (2, 1) and data[10:12] == b"\x01t"
    assert g.constants == [440.0, 0.0, 0.25]  # constants are shared, in first-use order
    assert struct.unpack(">i", data[12:16]) == (3,)
    assert [u[0] for u in g.ugens] == ["SinOsc", "BinaryOpUGen", "Out"]
    assert g.ugens[1][2] == [(0, 0), (-1, 2)] and g.ugens[1][4] == 2  # SinOsc output 0 times constant 2; special 2 = mul
    assert data.endswith(b"\x00\x00")  # no variants
    with pytest.raises(ValueError):
        g.env(AR, [0.0, 1.0], [0.1, 0.2])
