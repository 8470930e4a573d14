"""The built bundles: LV2 metadata validates, `make -C plugin install` puts the three formats where
DAWs look, and the plugin numbers the installed presets as `vae-synth presets` lists them."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from plugin_rig import CORE_CHECK, LV2, ROOT, host_env, require_build


@pytest.fixture(autouse=True)
def _built():
    require_build()


def test_lv2_bundle_passes_lv2_validate():
    validate = shutil.which("lv2_validate")
    assert validate, "lv2_validate (lilv-utils) is installed with the plugin's build dependencies"
    ttls = sorted(str(p) for p in LV2.glob("*.ttl"))
    proc = subprocess.run([validate, *ttls], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Found 0 errors" in proc.stdout + proc.stderr


def test_install_and_uninstall_put_the_formats_where_daws_look(tmp_path):
    prefixes = {"PREFIX_VST3": tmp_path / ".vst3", "PREFIX_CLAP": tmp_path / ".clap",
                "PREFIX_LV2": tmp_path / ".lv2"}
    args = [f"{k}={v}" for k, v in prefixes.items()]
    proc = subprocess.run(["make", "-s", "-C", str(ROOT / "plugin"), "install", *args,
                           f"PYTHON={sys.executable}"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / ".vst3/vae-synth.vst3/Contents/x86_64-linux/vae-synth.so").is_file()
    assert (tmp_path / ".clap/vae-synth.clap").is_file()
    assert (tmp_path / ".lv2/vae-synth.lv2/manifest.ttl").is_file()
    proc = subprocess.run(["make", "-s", "-C", str(ROOT / "plugin"), "uninstall", *args],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert not any(p.exists() for p in (tmp_path / ".vst3/vae-synth.vst3",
                                        tmp_path / ".clap/vae-synth.clap",
                                        tmp_path / ".lv2/vae-synth.lv2"))


def test_preset_numbers_follow_the_python_search_path_and_program_order(tmp_path):
    user = tmp_path / "data" / "vae-synth" / "presets"
    extra = tmp_path / "extra"
    for folder in (user / "zeta", user / "alpha", extra / "drums"):  # drums shadows the bundled
        shutil.copytree(ROOT / "presets" / "drums", folder, ignore=shutil.ignore_patterns("*.png"))
    env = host_env(tmp_path, presets=[extra])
    python = subprocess.run([sys.executable, "-c", PYTHON_LISTING], env=env, capture_output=True,
                            text=True, check=True).stdout.splitlines()
    plugin = subprocess.run([str(CORE_CHECK), "presets"], env=env, capture_output=True,
                            text=True, check=True).stdout.splitlines()
    assert plugin == python
    programs = [line.split("\t")[2] for line in plugin if line.startswith("program")]
    assert programs == ["alpha", "digits", "drums", "drums-22k", "zeta"]
    assert str(extra / "drums") in "\n".join(plugin)


# synth.preset's search order, and the Program Change order of `vae-synth presets`: the first
# preset of each name, sorted by name
PYTHON_LISTING = """
from vae_synth.synth.preset import list_presets
infos = list_presets()
for i in infos:
    print(f"listed\\t{i.name}\\t{i.source}\\t{i.path}")
for n, i in enumerate(sorted((i for i in infos if not i.shadowed), key=lambda i: i.name)):
    print(f"program\\t{n}\\t{i.name}\\t{i.path}")
"""
