#!/usr/bin/env bash
# What the plugin build needs, installed from the package registries:
#   - Debian packages: DPF (dpf-source), LV2 and lilv (headers, lv2_validate, the LV2 test host),
#     nlohmann-json, a C++ compiler;
#   - ONNX Runtime's C headers from Debian trixie's libonnxruntime-dev (MIT), fetched with
#     `apt-get download` against a private package list and unpacked with `dpkg -x` into
#     plugin/build/deps (the system's apt sources stay untouched; nothing is copied into the
#     repository). The runtime library itself is the one the player's onnxruntime package ships.
#
#   plugin/deps.sh          install what is missing; exit 1 with a message when it cannot
set -euo pipefail
cd "$(dirname "$0")"
deps=build/deps
say() { printf '\033[1mvae-synth plugin:\033[0m %s\n' "$*" >&2; }

packages=(dpf-source lv2-dev liblilv-dev lilv-utils sordi nlohmann-json3-dev g++ make pkg-config)

if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
  say "no apt-get here: install DPF (/usr/share/dpf), the LV2 and lilv headers, lilv's"
  say "lv2_validate and sordi, nlohmann-json and ONNX Runtime's C headers (1.21 or newer) yourself,"
  say "then put the headers in plugin/$deps/onnxruntime/include/onnxruntime."
  exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo=(sudo); fi
fi

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ] && [ ${#sudo[@]} -eq 0 ]; then
    say "please install as root: apt-get install ${missing[*]}"
    exit 1
  fi
  say "installing system packages: ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

headers=$deps/onnxruntime/include/onnxruntime/onnxruntime_c_api.h
if [ ! -f "$headers" ]; then
  # trixie's main on the mirror this machine's own apt sources use
  mirror=$(grep -hoE '^URIs: *[^ ]+' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' \
           | grep -v security | head -1 || true)
  if [ -z "$mirror" ]; then
    mirror=$(grep -hoE '^deb +(\[[^]]*\] +)?[^ ]+' /etc/apt/sources.list 2>/dev/null \
             | awk '{print $NF}' | grep -v security | head -1 || true)
  fi
  mirror=${mirror:-http://deb.debian.org/debian}
  apt_dir=$(mktemp -d "${TMPDIR:-/tmp}/vae-synth-apt.XXXXXX")
  trap 'rm -rf "$apt_dir"' EXIT
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial"
  keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  signed=""
  [ -f "$keyring" ] && signed="[signed-by=$keyring] "
  echo "deb ${signed}$mirror trixie main" > "$apt_dir/sources.list"
  apt_options=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=-"
               -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache::Archives=$apt_dir/archives"
               -o "APT::Sandbox::User=root")
  say "fetching ONNX Runtime's C headers (Debian trixie libonnxruntime-dev) from $mirror"
  apt-get -qq "${apt_options[@]}" update >/dev/null
  (cd "$apt_dir" && apt-get -qq "${apt_options[@]}" download libonnxruntime-dev >/dev/null)
  rm -rf "$deps/onnxruntime"
  mkdir -p "$deps/onnxruntime/unpacked"
  dpkg -x "$apt_dir"/libonnxruntime-dev_*.deb "$deps/onnxruntime/unpacked"
  mkdir -p "$deps/onnxruntime/include"
  mv "$deps/onnxruntime/unpacked/usr/include/onnxruntime" "$deps/onnxruntime/include/"
  rm -rf "$deps/onnxruntime/unpacked"
  [ -f "$headers" ] || { say "libonnxruntime-dev did not hold onnxruntime_c_api.h"; exit 1; }
fi
