// The preset bundle (format vae-synth-preset, versions 1 and 2), read and verified as synth/preset.py
// does: the same checks in the same order (JSON fields, types, sane sizes, finite numbers, class
// names used by the MIDI map, file hashes, each ONNX graph's interface), and the same search
// path for a NAME: $VAE_SYNTH_PRESETS folders, the user folder, the bundled presets/.
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace vs {

class Runtime;

class PresetError : public std::runtime_error {
public:
    PresetError(const std::string& where, const std::string& problem)
        : std::runtime_error(where.empty() ? problem : where + ": " + problem) {}
};

struct PresetClass {
    std::string name;
    std::vector<float> centroid;  // [D]
    std::vector<float> std;       // [D]
    int64_t count = 0;
};

struct MidiMap {
    std::map<int, std::string> notes;     // note -> class name
    std::map<int, std::string> controls;  // CC -> parameter name
    std::string morph_target;             // empty: the engine chooses
    std::vector<std::string> xy_corners;  // 4 class names
    std::vector<std::vector<std::string>> choke_groups;
    bool sustain = false;
    std::map<int, double> pitch_semitones;  // mapped note -> its pad's transposition
    std::map<std::string, double> pan;      // class -> stereo position in [-1, 1]
};

struct Preset {
    std::string path;  // the preset folder (absolute)
    std::string name, description;
    int sample_rate = 0, frame_length = 0, latent_dim = 0;
    std::vector<PresetClass> classes;
    std::vector<float> pca_mean;        // [D]
    std::vector<float> pca_components;  // [k, D] row-major
    std::vector<float> pca_variance;    // [k]
    int pca_k = 0;
    MidiMap midi;
    std::map<std::string, std::string> files;  // role -> absolute path
    int class_index(const std::string& name) const;
};

struct PresetEntry {
    std::string name, path, source;  // source: "env" | "user" | "bundled"
};

// Folders searched for a NAME, in order, as (source, folder).
std::vector<std::pair<std::string, std::string>> search_path();
// The preset folder for a path (folder or its preset.json) or a NAME. Throws PresetError.
std::string resolve_preset(const std::string& name_or_path);
// Every preset folder on the search path, in search order (synth.preset.list_presets).
std::vector<PresetEntry> list_presets();
// The presets in Program Change order, as `vae-synth presets` numbers them 0, 1, ...: the first
// of each name on the search path (what a NAME loads), sorted by name.
std::vector<PresetEntry> installed_programs();
// Parse and verify preset.json and the files; with a runtime, each ONNX graph's interface too.
Preset load_preset(const std::string& name_or_path, Runtime* runtime_for_onnx_check);
// Validate a preset.json text that needs no files (what validate_preset_dict checks).
void validate_preset_json(const std::string& text, const std::string& where);
// MIDI-learn bindings of `vae-synth play` for this preset ({cc: parameter}), from
// $XDG_CONFIG_HOME/vae-synth/midi_learn.json; empty when there are none or the file is unreadable.
std::map<int, std::string> learned_controls(const std::string& preset_name);

}  // namespace vs
