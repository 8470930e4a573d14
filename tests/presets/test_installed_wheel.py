"""A non-editable install works: the wheel built from this checkout ships every bundled preset
whole, builds without setuptools warnings, and, installed into a fresh virtual environment
outside the checkout, renders a groove with each bundled preset.

The fresh environment gets the wheel only (``--no-deps``); the player's dependencies (numpy,
ONNX Runtime, soundfile, mido, ...) are lent from the test environment by a path entry in a
``.pth`` file, so the test downloads nothing (ONNX Runtime alone is 340 MB). A path entry adds the
folder to ``sys.path`` without running the ``.pth`` files inside it, so the test environment's
editable install of vae-synth stays inactive there: every ``vae_synth`` module is the wheel's.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PRESETS = REPO / "presets"
BUNDLED = sorted(p.name for p in PRESETS.iterdir() if (p / "preset.json").is_file())


def _tracked() -> list[str]:
    """The checkout's files (git's list; without git, every file outside the usual outputs)."""
    try:
        return subprocess.run(["git", "-C", str(REPO), "ls-files"], check=True,
                              capture_output=True, text=True, timeout=60).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        skip = {".git", ".venv", "build", "dist", "runs", "reports", "__pycache__"}
        return [str(p.relative_to(REPO)) for p in REPO.rglob("*")
                if p.is_file() and not skip & set(p.relative_to(REPO).parts)]


def _checked_in() -> dict[str, str]:
    """{path inside presets/: sha256} of the bundled presets' files in this checkout."""
    return {name.removeprefix("presets/"): hashlib.sha256((REPO / name).read_bytes()).hexdigest()
            for name in _tracked() if name.startswith("presets/") and name.count("/") >= 2}


def _setuptools_new_enough() -> bool:
    try:
        import setuptools
    except ImportError:
        return False
    return int(setuptools.__version__.split(".")[0]) >= 77


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """(the wheel built from a copy of this checkout's files, the build's output).

    A copy, because setuptools builds in the source folder and a build/ left there from an
    earlier build can put files into the wheel that the checkout no longer has."""
    source = tmp_path_factory.mktemp("source")
    for name in _tracked():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    # Built by the test environment's setuptools (nothing fetched); an environment set up before
    # [dev] asked for setuptools>=77 lets pip fetch a build backend from PyPI instead.
    isolation = ["--no-build-isolation"] if _setuptools_new_enough() else []
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    # -v: pip shows the build backend's own output (its warnings) only when verbose
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", *isolation,
                           "-w", str(out), str(source)], capture_output=True, text=True,
                          timeout=600, env=env, cwd=out)
    assert done.returncode == 0, done.stdout + done.stderr
    (built,) = out.glob("vae_synth-*.whl")
    return built, done.stdout + done.stderr


def test_the_wheel_builds_without_setuptools_warnings(wheel):
    _, output = wheel
    assert "running bdist_wheel" in output, output   # the backend's output is in what is read
    assert "BuildBackendWarning" not in output, output
    assert "absent from the `packages` configuration" not in output, output


def test_the_wheel_ships_every_bundled_preset_whole(wheel):
    built, _ = wheel
    with zipfile.ZipFile(built) as archive:
        shipped = {name.removeprefix("vae_synth/presets/"): hashlib.sha256(archive.read(name))
                   .hexdigest() for name in archive.namelist()
                   if name.startswith("vae_synth/presets/") and name.count("/") >= 3}
    assert BUNDLED and {name.split("/")[0] for name in shipped} == set(BUNDLED)
    assert shipped == _checked_in()
    assert all(f"{name}/decoder.weights" in shipped for name in BUNDLED)


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory):
    """A fresh virtual environment outside the checkout with the wheel installed: its folder."""
    built, _ = wheel
    env_dir = tmp_path_factory.mktemp("fresh") / "venv"
    venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(env_dir)
    python = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig."
                                "get_paths()['purelib'])"], check=True, capture_output=True,
                               text=True, timeout=60).stdout.strip())
    (site / "lent-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                           "--no-deps", "--no-index", "--quiet", str(built)],
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "warning" not in (done.stdout + done.stderr).lower(), done.stdout + done.stderr
    return env_dir


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VAE_SYNTH_PRESETS", "VIRTUAL_ENV")}
    env.update(HOME=str(home), XDG_DATA_HOME=str(home / "data"),
               XDG_CONFIG_HOME=str(home / "config"))
    return env


def test_the_installed_package_is_the_wheel_not_the_checkout(installed, tmp_path):
    python = installed / "bin" / "python"
    where = subprocess.run([str(python), "-c", "import vae_synth, vae_synth.presets, "
                            "vae_synth.synth.preset as p; print(vae_synth.__file__); "
                            "print(p.bundled_presets_dir())"], capture_output=True, text=True,
                           timeout=60, cwd=tmp_path, env=_env(tmp_path))
    assert where.returncode == 0, where.stderr
    package, presets = where.stdout.split()
    assert Path(package).is_relative_to(installed) and Path(presets).is_relative_to(installed)
    assert not Path(package).is_relative_to(REPO)


@pytest.mark.parametrize("name", BUNDLED)
def test_each_bundled_preset_renders_a_groove_from_the_installed_command(name, installed,
                                                                         tmp_path):
    """The README's render, run by the installed `vae-synth` from a folder outside the
    checkout, on a groove that hits every pad of the preset's map."""
    import json

    import mido
    import numpy as np
    import soundfile as sf

    notes = sorted(int(n) for n in json.loads((PRESETS / name / "preset.json").read_text())
                   ["midi"]["notes"])
    groove = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    groove.tracks.append(track)
    for i, note in enumerate(notes * 2):
        track.append(mido.Message("note_on", note=note, velocity=100, channel=9,
                                  time=0 if i == 0 else 120))
        track.append(mido.Message("note_off", note=note, channel=9, time=60))
    groove.save(str(tmp_path / "groove.mid"))
    command = installed / "bin" / "vae-synth"
    done = subprocess.run([str(command), "render", "--preset", name, "--midi", "groove.mid",
                           "--out", "groove.wav"], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path, env=_env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert f", {2 * len(notes)} notes," in done.stdout and "no pad" not in done.stderr
    audio, rate = sf.read(str(tmp_path / "groove.wav"), dtype="float32")
    assert rate == 48000 and audio.shape[1] == 2 and np.all(np.isfinite(audio))
    assert np.abs(audio).max() > 0.01
    listed = subprocess.run([str(command), "presets", "--paths"], capture_output=True, text=True,
                            timeout=120, cwd=tmp_path, env=_env(tmp_path))
    assert listed.returncode == 0 and "BROKEN" not in listed.stdout
    assert str(installed) in listed.stdout and name in listed.stdout
