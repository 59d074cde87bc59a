"""Target loading: every bad input is a one-line TargetError naming the file."""

from __future__ import annotations

import os
import struct

import numpy as np
import pytest
import soundfile as sf

from objectives.audio_io import Target, TargetError, load_target, write_wav_atomic

SR = 22050


def _tone(sr: int, duration_s: float = 0.5, freq_hz: float = 440.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(sr * duration_s)) / sr
    return (amp * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def _write(path, audio, sr, **kw) -> str:
    sf.write(str(path), audio, sr, **kw)
    return str(path)


def riff_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """``(id, payload)`` of every chunk of a RIFF/WAVE file, checking that the chunks fill the file exactly."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    assert struct.unpack("<I", data[4:8])[0] == len(data) - 8
    chunks, pos = [], 12
    while pos + 8 <= len(data):
        chunk_id, size = struct.unpack("<4sI", data[pos : pos + 8])
        chunks.append((chunk_id, data[pos + 8 : pos + 8 + size]))
        pos += 8 + size + (size & 1)
    assert pos == len(data)
    return chunks


def _bad_files(tmp_path) -> dict[str, str]:
    good = _write(tmp_path / "good.wav", _tone(SR), SR, subtype="PCM_16")
    raw = open(good, "rb").read()
    files = {}

    def put(name: str, data: bytes) -> None:
        p = tmp_path / name
        p.write_bytes(data)
        files[name] = str(p)

    put("empty.wav", b"")
    put("truncated.wav", raw[: len(raw) // 2])
    put("header_only.wav", raw[:44])
    put("cut_in_header.wav", raw[:20])
    put("corrupt_header.wav", raw[:12] + b"fmt \xff\xff\xff\x7f" + b"\x00" * 16 + raw[36:])
    put("text.wav", b"this is not audio, just text pretending to be a wav\n" * 20)
    put("text.flac", b"fLaC? no, just text\n" * 20)
    files["missing.wav"] = str(tmp_path / "missing.wav")
    d = tmp_path / "adir.wav"
    d.mkdir()
    files["adir.wav"] = str(d)
    files["zeros.wav"] = _write(tmp_path / "zeros.wav", np.zeros(SR, np.float32), SR)
    files["dc.wav"] = _write(tmp_path / "dc.wav", np.full(SR, 0.3, np.float32), SR, subtype="FLOAT")
    nan = _tone(SR)
    nan[100] = np.nan
    files["nan.wav"] = _write(tmp_path / "nan.wav", nan, SR, subtype="FLOAT")
    inf = _tone(SR)
    inf[200] = np.inf
    files["inf.wav"] = _write(tmp_path / "inf.wav", inf, SR, subtype="FLOAT")
    files["one_sample.wav"] = _write(tmp_path / "one_sample.wav", np.array([0.5], np.float32), SR, subtype="FLOAT")
    files["short.wav"] = _write(tmp_path / "short.wav", _tone(SR, 0.02), SR)
    files["long.wav"] = _write(tmp_path / "long.wav", _tone(8000, 11.0), 8000)
    return files


def test_every_bad_input_raises_target_error_naming_the_file(tmp_path):
    for name, path in _bad_files(tmp_path).items():
        with pytest.raises(TargetError) as info:
            load_target(path)
        msg = str(info.value)
        assert path in msg, (name, msg)
        assert "\n" not in msg, (name, msg)


def test_messages_say_what_is_wrong(tmp_path):
    files = _bad_files(tmp_path)

    def msg(name: str) -> str:
        with pytest.raises(TargetError) as info:
            load_target(files[name])
        return str(info.value)

    assert "no such file" in msg("missing.wav")
    assert "directory" in msg("adir.wav")
    assert "empty" in msg("empty.wav")
    assert "truncated" in msg("truncated.wav")
    assert "NaN" in msg("nan.wav") and "NaN" in msg("inf.wav")
    assert "DC" in msg("dc.wav")
    assert "silence" in msg("zeros.wav")
    assert "too short" in msg("short.wav")
    long_msg = msg("long.wav")
    assert "too long" in long_msg and "11.00 s" in long_msg and "10 s" in long_msg


def test_limits_are_parameters(tmp_path):
    path = _write(tmp_path / "tone.wav", _tone(SR, 0.5), SR)
    with pytest.raises(TargetError, match="cap is 0.3 s"):
        load_target(path, max_duration_s=0.3)
    with pytest.raises(TargetError, match="too short"):
        load_target(path, min_duration_s=1.0)


def test_stereo_is_mixed_to_mono(tmp_path):
    left = _tone(SR, 0.5, 440.0, 0.4)
    right = _tone(SR, 0.5, 440.0, 0.2)
    path = _write(tmp_path / "stereo.wav", np.stack([left, right], axis=1), SR, subtype="FLOAT")
    tgt = load_target(path)
    assert isinstance(tgt, Target)
    assert tgt.audio.ndim == 1 and tgt.audio.dtype == np.float32
    np.testing.assert_allclose(tgt.audio, 0.5 * (left + right)[: tgt.audio.size], atol=1e-6)


def test_resampling_keeps_the_pitch_and_level(tmp_path):
    path = _write(tmp_path / "tone44.wav", _tone(44100, 1.0, 440.0, 0.5), 44100, subtype="FLOAT")
    tgt = load_target(path, sr=SR)
    assert tgt.sr == SR and tgt.orig_sr == 44100
    assert abs(tgt.audio.size - SR) <= 2
    assert abs(tgt.duration_s - 1.0) < 1e-3
    spec = np.abs(np.fft.rfft(tgt.audio * np.hanning(tgt.audio.size)))
    peak_hz = np.argmax(spec) * SR / tgt.audio.size
    assert abs(peak_hz - 440.0) < 2.0
    # No level normalisation: the peak stays at 0.5, not 1.0.
    assert 0.45 < float(np.max(np.abs(tgt.audio))) < 0.55


def test_leading_silence_is_trimmed_with_a_short_pre_roll(tmp_path):
    silence = np.zeros(int(0.3 * 44100), np.float32)
    tone = _tone(44100, 0.5)
    path = _write(tmp_path / "late.wav", np.concatenate([silence, tone]), 44100, subtype="FLOAT")
    tgt = load_target(path, sr=SR)
    assert 0.49 < tgt.duration_s < 0.51
    assert tgt.orig_audio.size < tone.size + int(0.005 * 44100)
    # The onset (first sample above -60 dB) is within the first ~3 ms.
    onset = int(np.argmax(np.abs(tgt.audio) > 0.5e-3))
    assert onset < 0.003 * SR


def test_dc_offset_does_not_hide_a_quiet_note(tmp_path):
    audio = 0.2 + _tone(SR, 0.5, 440.0, 0.01)
    tgt = load_target(_write(tmp_path / "dc_tone.wav", audio.astype(np.float32), SR, subtype="FLOAT"))
    assert tgt.audio.size > 0.45 * SR


@pytest.mark.parametrize("fmt,ext", [("FLAC", "flac"), ("OGG", "ogg")])
def test_flac_and_ogg_load(tmp_path, fmt, ext):
    path = _write(tmp_path / f"tone.{ext}", _tone(SR, 0.5), SR, format=fmt)
    tgt = load_target(path)
    assert abs(tgt.duration_s - 0.5) < 0.02
    assert 0.4 < float(np.max(np.abs(tgt.audio))) < 0.6


def test_write_wav_atomic_round_trip_and_no_leftovers(tmp_path):
    audio = _tone(SR, 0.25, 330.0, 1.2)  # above full scale: FLOAT keeps it
    path = tmp_path / "out.wav"
    write_wav_atomic(path, audio, SR)
    write_wav_atomic(path, audio, SR)  # replacing an existing file works
    back, sr = sf.read(str(path), dtype="float32")
    assert sr == SR
    np.testing.assert_array_equal(back, audio)
    assert sorted(os.listdir(tmp_path)) == ["out.wav"]


def test_write_wav_atomic_same_audio_gives_the_same_bytes(tmp_path):
    """No PEAK chunk (libsndfile's holds the time of writing): the file depends only on the samples and the rate."""
    audio = _tone(SR, 0.25, 330.0, 1.2)
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    write_wav_atomic(a, audio, SR)
    write_wav_atomic(b, audio, SR)
    assert a.read_bytes() == b.read_bytes()
    chunks = riff_chunks(a.read_bytes())
    ids = [chunk_id for chunk_id, _ in chunks]
    assert b"PEAK" not in ids
    assert set(ids) <= {b"fmt ", b"fact", b"PAD ", b"data"} and ids[-1] == b"data"  # nothing else that could carry a time
    assert all(payload == bytes(len(payload)) for chunk_id, payload in chunks if chunk_id == b"PAD ")
    assert dict(chunks)[b"data"] == audio.astype("<f4").tobytes()

    stereo = np.stack([audio, -audio], axis=1)
    write_wav_atomic(a, stereo, SR)
    assert b"PEAK" not in [chunk_id for chunk_id, _ in riff_chunks(a.read_bytes())]
    back, sr = sf.read(str(a), dtype="float32")
    assert sr == SR
    np.testing.assert_array_equal(back, stereo)
