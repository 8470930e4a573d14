#!/usr/bin/env bash
# Set up vae-synth in a virtual environment inside the repository, then run it.
#
#   scripts/setup.sh play [vae-synth options]   player only (no TensorFlow), then `vae-synth ...`
#   scripts/setup.sh test [pytest options]      everything (train extras, test tools, JACK, the DAW
#                                               plugin's build), then pytest
#
# Both build the native mixer (native/ -> native/build/libvae_synth_mixer.so, one compiler call)
# when a C++ compiler is there: the audio callback then never waits for Python. Without one the
# player mixes in Python and says so; under CI (CI=true) the native mixer must build.
#   scripts/setup.sh plugin                     the player, then build and install the DAW plugin
#                                               (~/.vst3, ~/.clap, ~/.lv2; see plugin/README.md)
#
# Idempotent: the environment (.venv, or $VAE_SYNTH_VENV) is created once and reinstalled only when
# pyproject.toml changes. System libraries are installed with apt-get where it exists (sudo when
# not root); elsewhere the script says what to install.
set -euo pipefail

mode=${1:?usage: scripts/setup.sh play|test [args...]}
shift
cd "$(dirname "$0")/.."
venv=${VAE_SYNTH_VENV:-.venv}
python=${PYTHON:-python3}

say() { printf '\033[1mvae-synth setup:\033[0m %s\n' "$*" >&2; }

case "$mode" in
  play) system_packages=(libportaudio2 libasound2); extras="" ;;
  # The test rig runs a real JACK server (the terminal test a tmux, the General MIDI drum script a
  # FluidSynth); a player's desktop never gets them.
  test) system_packages=(libportaudio2 libasound2 jackd2 tmux fluidsynth); extras="[train,dev]" ;;
  plugin) system_packages=(libportaudio2 libasound2); extras="" ;;
  *) echo "usage: scripts/setup.sh play|test|plugin [args...]" >&2; exit 2 ;;
esac

install_system_packages() {
  if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    case "$(uname -s)" in
      Darwin) say "macOS: PortAudio comes inside the sounddevice wheel; nothing to install." ;;
      *) say "no apt-get here: install PortAudio (libportaudio2), ALSA (libasound2)$([ "$mode" = test ] && echo ' and the JACK server (jackd2)') with your package manager." ;;
    esac
    return 0
  fi
  local missing=()
  for package in "${system_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo=(sudo); else
      say "please install as root: apt-get install ${missing[*]}"; return 0
    fi
  fi
  say "installing system packages: ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

install_python_packages() {
  if [ ! -x "$venv/bin/python" ]; then
    say "creating the virtual environment $venv"
    "$python" -m venv "$venv"
  fi
  # Reinstall only when the project's requirements or the requested extras changed.
  local stamp="$venv/.vae-synth-installed$extras"
  local wanted
  wanted=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
    return 0
  fi
  say "installing vae-synth$extras into $venv (first time: a few minutes)"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  # -qq: errors still print; setuptools' "Editable installation" note (information only, shown for
  # any editable install of a package-dir layout) does not
  "$venv/bin/python" -m pip install -qq -e ".$extras"
  echo "$wanted" > "$stamp"
}

# The DAW plugin: its build dependencies (plugin/deps.sh: apt packages, ONNX Runtime's headers),
# then make. "required" fails the setup when that does not work; "optional" (the tests outside
# CI) records why in plugin/build/unavailable.txt, which the plugin tests show as their skip reason.
build_plugin() {
  local need=$1 log=plugin/build/make.log
  mkdir -p plugin/build
  rm -f plugin/build/unavailable.txt
  if ! plugin/deps.sh; then
    [ "$need" = required ] && { say "the plugin's build dependencies could not be installed"; exit 1; }
    echo "the plugin's build dependencies could not be installed (plugin/deps.sh)" > plugin/build/unavailable.txt
    say "skipping the plugin build: its dependencies could not be installed"
    return 0
  fi
  say "building the plugin (VST3, CLAP, LV2; log: $log)"
  if ! make -C plugin -j2 PYTHON="$PWD/$venv/bin/python" all >"$log" 2>&1; then
    tail -30 "$log" >&2
    [ "$need" = required ] && { say "the plugin build failed (see $log)"; exit 1; }
    echo "the plugin build failed (see $log)" > plugin/build/unavailable.txt
    return 0
  fi
}

# The native mixer: rebuilt when a source in native/ is newer than the library. "required" fails
# the setup when it cannot be built; "optional" says so and leaves the Python mixer.
build_native() {
  local need=$1 lib=native/build/libvae_synth_mixer.so log=native/build/build.log cxx=${CXX:-}
  if [ -z "$cxx" ]; then
    for candidate in g++ c++ clang++; do
      if command -v "$candidate" >/dev/null 2>&1; then cxx=$candidate; break; fi
    done
  fi
  if [ -z "$cxx" ]; then
    [ "$need" = required ] && { say "no C++ compiler (g++) to build the native mixer"; exit 1; }
    say "no C++ compiler: the player mixes in Python (install g++ for the native mixer)"
    return 0
  fi
  if [ -f "$lib" ] && [ -z "$(find native -maxdepth 1 \( -name '*.cpp' -o -name '*.h' \) -newer "$lib")" ]; then
    return 0
  fi
  mkdir -p native/build
  say "building the native mixer ($lib)"
  # -ffp-contract=off: no fused multiply-adds, so the native mix equals the Python one bit for bit
  if ! "$cxx" -O2 -std=c++17 -fPIC -shared -fvisibility=hidden -ffp-contract=off -Wall -Wextra \
      -Inative native/mixer.cpp native/player.cpp native/jack_midi.cpp -ldl -o "$lib.tmp" \
      >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$lib.tmp"
    [ "$need" = required ] && { say "the native mixer did not build (see $log)"; exit 1; }
    say "the native mixer did not build (see $log): the player mixes in Python"
    return 0
  fi
  mv -f "$lib.tmp" "$lib"
}

install_system_packages
install_python_packages

case "$mode" in
  play)
    build_native optional
    exec "$venv/bin/vae-synth" "$@" ;;
  test)
    # the plugin's dependencies bring a C++ compiler; then the native mixer
    if [ "${CI:-}" = true ]; then build_plugin required; else build_plugin optional; fi
    if [ "${CI:-}" = true ]; then build_native required; else build_native optional; fi
    exec "$venv/bin/python" -m pytest "$@" ;;
  plugin)
    build_plugin required
    exec make -C plugin PYTHON="$PWD/$venv/bin/python" install ;;
esac
