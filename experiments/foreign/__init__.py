"""Out-of-domain benchmark suites: notes from engines that are not Pyo, and recorded one-shots.

- :mod:`experiments.foreign.notes`: the note draws and labels the synthetic engines share,
  the level normalisation and the missing-tool check;
- :mod:`experiments.foreign.sc_binary` and :mod:`experiments.foreign.scsynth`: SuperCollider's
  scsynth in non-real-time mode (``scsynth:N``);
- :mod:`experiments.foreign.faust`: Faust programs compiled and rendered by DawDreamer (``faust:N``);
- :mod:`experiments.foreign.gm`: General MIDI one-shots from FluidR3_GM played by fluidsynth (``gm:N``).

:func:`experiments.sox_suite.load_suite` parses the suite specs.
"""
