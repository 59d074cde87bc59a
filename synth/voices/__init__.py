"""Voices: each a named parameter space plus the Pyo graph that plays it.

One module per voice (``subtractive.py``, ``analog.py``, ``fm.py``); each
defines ``VOICE``, a :class:`Voice`.  The registry :data:`VOICES` is built by
importing every module of this package that defines ``VOICE``, so adding a
voice is adding one module: the renderer, the patch files, the CLI and the
search pick it up by name.  Helper modules (``base``, ``controls``,
``parts``) define no ``VOICE`` and register nothing.
"""

from __future__ import annotations

import importlib
import pkgutil

from synth.voices.base import Voice, envelope_times
from synth.voices.subtractive import FILTER_TYPES, OSC_TYPES, SUBTRACTIVE

__all__ = ["Voice", "VOICES", "DEFAULT_VOICE", "get_voice", "SUBTRACTIVE", "OSC_TYPES", "FILTER_TYPES", "envelope_times"]

DEFAULT_VOICE = SUBTRACTIVE.name
"""The voice a patch file without a ``voice`` field, and the CLI by default, use."""


def _discover() -> dict[str, Voice]:
    """Every ``VOICE`` defined by a module of this package: the default first, then by name."""
    found: dict[str, Voice] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        voice = getattr(module, "VOICE", None)
        if isinstance(voice, Voice):
            if voice.name in found:
                raise ValueError(f"voice {voice.name!r} is defined twice ({info.name})")
            found[voice.name] = voice
    order = sorted(found, key=lambda name: (name != DEFAULT_VOICE, name))
    return {name: found[name] for name in order}


VOICES: dict[str, Voice] = _discover()
"""Registry of voices by name (the default voice first)."""


def get_voice(name: str) -> Voice:
    """Look a voice up by name.

    Raises
    ------
    KeyError
        With the list of known voices in the message.
    """
    try:
        return VOICES[name]
    except KeyError:
        raise KeyError(f"unknown voice {name!r} (known: {', '.join(VOICES)})") from None
