"""How an export lands in its folder (no TensorFlow needed): a new folder appears by one rename;
over an existing preset only the files export writes change and everything else is kept; --force
replaces the folder whole; without RENAME_EXCHANGE the same holds."""

from __future__ import annotations

import pytest
from vae_synth.export import bundle


def _bundle(folder, tag: str):
    folder.mkdir()
    for name in ("preset.json", "decoder.onnx", "decoder.weights"):
        (folder / name).write_text(f"{tag} {name}")
    return folder


def _tree(folder) -> dict[str, str]:
    return {str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*"))
            if p.is_file()}


@pytest.fixture(params=["exchange", "two renames"])
def swap(request, monkeypatch):
    """Both ways of swapping the folders: renameat2(RENAME_EXCHANGE) and the portable fallback."""
    if request.param == "two renames":
        monkeypatch.setattr(bundle, "_exchange", lambda a, b: False)
    return request.param


def test_a_new_folder_is_the_bundle(tmp_path, swap):
    new = _bundle(tmp_path / ".mine.export-1-x", "new")
    assert bundle._install(new, tmp_path / "mine") == []
    assert _tree(tmp_path / "mine") == {n: f"new {n}" for n in
                                        ("decoder.onnx", "decoder.weights", "preset.json")}
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]


def test_over_a_preset_only_the_written_files_change(tmp_path, swap):
    out = _bundle(tmp_path / "mine", "old")
    (out / "decoder_batch.onnx").write_text("old decoder_batch.onnx")   # not written this time
    (out / "README.md").write_text("model card")
    (out / "notes.txt").write_text("my notes")
    (out / "takes").mkdir()
    (out / "takes" / "a.wav").write_text("a take")
    (out / "link").symlink_to("README.md")
    new = _bundle(tmp_path / ".mine.export-1-x", "new")
    kept = bundle._install(new, out)
    assert kept == ["README.md", "decoder_batch.onnx", "link", "notes.txt", "takes"]
    assert _tree(out) == {
        "README.md": "model card", "decoder.onnx": "new decoder.onnx",
        "decoder.weights": "new decoder.weights", "decoder_batch.onnx": "old decoder_batch.onnx",
        "link": "model card", "notes.txt": "my notes", "preset.json": "new preset.json",
        "takes/a.wav": "a take"}
    assert (out / "link").is_symlink()
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]


def test_force_replaces_the_folder_whole(tmp_path, swap):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.txt").write_text("not a preset")
    with pytest.raises(bundle.ExportError, match="not a preset.*--force"):
        bundle._check_out(out)
    bundle._check_out(out, force=True)
    new = _bundle(tmp_path / ".mine.export-1-x", "new")
    assert bundle._install(new, out, force=True) == []
    assert sorted(_tree(out)) == ["decoder.onnx", "decoder.weights", "preset.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]


def test_a_file_is_never_an_export_folder(tmp_path):
    (tmp_path / "mine").write_text("a file")
    for force in (False, True):
        with pytest.raises(bundle.ExportError, match="not a folder"):
            bundle._check_out(tmp_path / "mine", force=force)


def test_a_failed_swap_puts_the_old_preset_back(tmp_path, monkeypatch):
    """Without RENAME_EXCHANGE the old folder is renamed aside first; when the new one cannot
    then take its name, the old one gets its name back instead of staying hidden."""
    monkeypatch.setattr(bundle, "_exchange", lambda a, b: False)
    out = _bundle(tmp_path / "mine", "old")
    new = _bundle(tmp_path / ".mine.export-1-x", "new")
    real_rename = bundle.os.rename

    def rename(src, dst):
        if str(src) == str(new):
            raise OSError(28, "No space left on device")
        real_rename(src, dst)

    monkeypatch.setattr(bundle.os, "rename", rename)
    with pytest.raises(OSError, match="No space"):
        bundle._install(new, out)
    assert _tree(out) == {n: f"old {n}" for n in
                          ("decoder.onnx", "decoder.weights", "preset.json")}
    assert sorted(p.name for p in tmp_path.iterdir()) == [".mine.export-1-x", "mine"]
