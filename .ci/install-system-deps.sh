#!/usr/bin/env bash
# System packages the benchmarks and their tests need, installed only when missing:
#   sox                       SoX's synthesizer makes the sox:N benchmark targets
#   chromium, chromium-driver headless browser for tests/experiments/test_report_browser.py
#   supercollider-server      scsynth renders the scsynth:N benchmark targets (non-real-time mode)
#   fluidsynth                plays the General MIDI one-shots of the gm:N benchmark suite
#   fluid-soundfont-gm        the FluidR3_GM soundfont (MIT licence) those one-shots come from
# Debian packages; needs root (CI and the developer machines run as root).
set -euo pipefail

missing=()
command -v sox >/dev/null 2>&1 || missing+=(sox)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
command -v scsynth >/dev/null 2>&1 || missing+=(supercollider-server)
command -v fluidsynth >/dev/null 2>&1 || missing+=(fluidsynth)
[ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ] || missing+=(fluid-soundfont-gm)

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-system-deps: sox, chromium, chromium-driver, supercollider-server, fluidsynth and fluid-soundfont-gm already installed"
    exit 0
fi

echo "install-system-deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
    echo "install-system-deps: not root; install these Debian packages by hand: ${missing[*]}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
