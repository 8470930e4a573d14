#include "preset.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cfloat>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "build_paths.h"  // VS_BUNDLED_PRESETS
#include "ort.hpp"
#include "params.hpp"
#include "sha256.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace vs {
namespace {

const char* FORMAT = "vae-synth-preset";
// version 2: midi.pitch and midi.pan are part of the schema; version 1 documents are migrated
// (synth/preset.py migrate)
const int VERSION = 2, OLDEST_VERSION = 1;
const double MAX_PAD_SEMITONES = 48;
const char* PRESET_JSON = "preset.json";
const char* ROLES[] = {"decoder", "decoder_batch", "encoder", "classifier"};
const char* DATA_FILE_ROLE = "decoder_weights";
const int64_t MIN_SAMPLE_RATE = 1000, MAX_SAMPLE_RATE = 384000;
const int64_t MIN_FRAME_LENGTH = 16, MAX_FRAME_LENGTH = 1 << 20;
const int64_t MAX_LATENT_DIM = 4096;
const size_t MAX_CLASSES = 1024;
const int64_t MAX_JSON_BYTES = int64_t(64) << 20;
const int64_t MAX_ONNX_BYTES = int64_t(2) << 30;
// Python's json reads NaN/Infinity tokens, so a non-finite number reaches the field checks (which
// refuse it where a number must be finite, and keep it elsewhere). nlohmann's parser refuses the
// tokens, so they are turned into marked strings before parsing.
const std::string NONFINITE = "\x01nonfinite:";

std::string repr(const json& v) {
    if (v.is_string()) {
        const std::string& s = v.get_ref<const std::string&>();
        if (s.rfind(NONFINITE, 0) == 0) return s.substr(NONFINITE.size());
        return "'" + s + "'";
    }
    if (v.is_null()) return "None";
    if (v.is_boolean()) return v.get<bool>() ? "True" : "False";
    std::string text = v.dump();
    return text.size() > 60 ? text.substr(0, 60) + "..." : text;
}

std::string type_name(const json& v) {
    switch (v.type()) {
        case json::value_t::object: return "dict";
        case json::value_t::array: return "list";
        case json::value_t::string: return "str";
        case json::value_t::boolean: return "bool";
        case json::value_t::number_float: return "float";
        case json::value_t::null: return "NoneType";
        default: return "int";
    }
}

bool is_nonfinite_marker(const json& v) {
    return v.is_string() && v.get_ref<const std::string&>().rfind(NONFINITE, 0) == 0;
}

bool is_int(const json& v) { return v.is_number_integer(); }

std::string python_strip(const std::string& s) {
    const char* ws = " \t\n\r\v\f";
    size_t a = s.find_first_not_of(ws);
    if (a == std::string::npos) return "";
    size_t b = s.find_last_not_of(ws);
    return s.substr(a, b - a + 1);
}

std::string sanitize_nonfinite(const std::string& text) {
    std::string out;
    out.reserve(text.size());
    bool in_string = false;
    for (size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (in_string) {
            out += c;
            if (c == '\\' && i + 1 < text.size()) out += text[++i];
            else if (c == '"') in_string = false;
            continue;
        }
        if (c == '"') {
            in_string = true;
            out += c;
            continue;
        }
        const char* tokens[] = {"-Infinity", "Infinity", "NaN"};
        const char* shown[] = {"-inf", "inf", "nan"};
        bool replaced = false;
        for (int t = 0; t < 3; ++t) {
            size_t n = std::strlen(tokens[t]);
            if (text.compare(i, n, tokens[t]) == 0) {
                out += "\"\\u0001nonfinite:" + std::string(shown[t]) + "\"";
                i += n - 1;
                replaced = true;
                break;
            }
        }
        if (!replaced) out += c;
    }
    return out;
}

int64_t int_field(const json& data, const char* key, int64_t lo, int64_t hi, const std::string& where) {
    if (!data.contains(key)) throw PresetError(where, std::string("missing required field '") + key + "'");
    const json& v = data[key];
    if (!is_int(v))
        throw PresetError(where, std::string("'") + key + "' must be an integer, got " + repr(v));
    // an integer beyond int64 is refused by nlohmann as a float above, so get<> is safe here
    int64_t x = v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX) ? INT64_MAX : v.get<int64_t>();
    if (x < lo || x > hi)
        throw PresetError(where, std::string("'") + key + "' = " + std::to_string(x) +
                                     " is outside the sane range [" + std::to_string(lo) + ", " +
                                     std::to_string(hi) + "]");
    return x;
}

std::string str_field(const json& data, const char* key, const std::string& where, bool nonempty = true) {
    if (!data.contains(key)) throw PresetError(where, std::string("missing required field '") + key + "'");
    const json& v = data[key];
    if (!v.is_string() || is_nonfinite_marker(v) ||
        (nonempty && python_strip(v.get_ref<const std::string&>()).empty()))
        throw PresetError(where, std::string("'") + key + "' must be a" + (nonempty ? " non-empty" : "") +
                                     " string, got " + repr(v));
    return v.get<std::string>();
}

// A (nested) list of finite numbers of exactly `shape`, flattened to float32.
void float_array(const json& value, const std::vector<size_t>& shape, size_t depth, const std::string& label,
                 const std::string& where, std::vector<double>& out) {
    if (depth == shape.size()) {
        if (is_nonfinite_marker(value))
            throw PresetError(where, label + " is not finite (" + repr(value) + ")");
        if (!value.is_number())
            throw PresetError(where, label + " must be a number, got " + repr(value));
        double x = value.get<double>();
        if (!std::isfinite(x)) throw PresetError(where, label + " is not finite (" + repr(value) + ")");
        out.push_back(x);
        return;
    }
    if (!value.is_array())
        throw PresetError(where, label + " must be a list of " + std::to_string(shape[depth]) + ", got " +
                                     type_name(value));
    if (value.size() != shape[depth])
        throw PresetError(where, label + " has length " + std::to_string(value.size()) + ", expected " +
                                     std::to_string(shape[depth]));
    for (size_t i = 0; i < value.size(); ++i)
        float_array(value[i], shape, depth + 1, label + "[" + std::to_string(i) + "]", where, out);
}

std::vector<float> float_array(const json& value, const std::vector<size_t>& shape, const std::string& what,
                               const std::string& where) {
    std::vector<double> values;
    float_array(value, shape, 0, what, where, values);
    std::vector<float> out(values.size());
    for (size_t i = 0; i < values.size(); ++i) {
        if (std::fabs(values[i]) > FLT_MAX) throw PresetError(where, what + " has values beyond float32 range");
        out[i] = static_cast<float>(values[i]);
    }
    return out;
}

std::vector<std::string> class_name_list(const json& value, const std::set<std::string>& names,
                                         const std::string& what, const std::string& where) {
    if (!value.is_array()) throw PresetError(where, what + " must be a list of class names, got " + repr(value));
    std::vector<std::string> out;
    for (const json& v : value) {
        if (!v.is_string() || !names.count(v.get<std::string>())) {
            std::string listing;
            for (const auto& n : names) listing += (listing.empty() ? "" : ", ") + n;
            throw PresetError(where, what + " names unknown class " + repr(v) + " (classes: " + listing + ")");
        }
        out.push_back(v.get<std::string>());
    }
    return out;
}

// Python's int(k) followed by str(n) == k.strip(): a canonical decimal, spaces around allowed.
bool midi_key(const std::string& key, int& n) {
    std::string s = python_strip(key);
    if (s.empty()) return false;
    size_t i = s[0] == '-' ? 1 : 0;
    if (i == s.size()) return false;
    for (size_t j = i; j < s.size(); ++j)
        if (s[j] < '0' || s[j] > '9') return false;
    if (s[i] == '0' && s.size() > i + 1) return false;
    if (i == 1 && s == "-0") return false;
    if (s.size() > 6) return false;
    n = std::atoi(s.c_str());
    return n >= 0 && n <= 127;
}

std::map<int, std::string> midi_number_map(const json& value, const std::string& what, const std::string& where) {
    if (!value.is_object()) throw PresetError(where, what + " must be an object, got " + type_name(value));
    std::map<int, std::string> out;
    for (auto it = value.begin(); it != value.end(); ++it) {
        int n = 0;
        if (!midi_key(it.key(), n)) throw PresetError(where, what + " key '" + it.key() + "' is not a number 0-127");
        const json& v = it.value();
        if (!v.is_string() || is_nonfinite_marker(v) || v.get_ref<const std::string&>().empty())
            throw PresetError(where, what + "['" + it.key() + "'] must be a non-empty string, got " + repr(v));
        out[n] = v.get<std::string>();
    }
    return out;
}

std::string join(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
    return out;
}

double finite_number(const json& v, const std::string& what, const std::string& where) {
    if (is_nonfinite_marker(v)) throw PresetError(where, what + " is not finite (" + repr(v) + ")");
    if (!v.is_number()) throw PresetError(where, what + " must be a number, got " + repr(v));
    double x = v.get<double>();
    if (!std::isfinite(x)) throw PresetError(where, what + " is not finite (" + repr(v) + ")");
    return x;
}

MidiMap parse_midi(const json& value, const std::vector<std::string>& class_names, int pca_k,
                   const std::string& where) {
    if (!value.is_object()) throw PresetError(where, "'midi' must be an object, got " + type_name(value));
    std::set<std::string> names(class_names.begin(), class_names.end());
    for (const char* key : {"notes", "controls", "morph_target", "xy_corners", "choke_groups", "sustain",
                            "pitch", "pan"})
        if (!value.contains(key)) throw PresetError(where, std::string("missing required field 'midi.") + key + "'");
    MidiMap midi;
    midi.notes = midi_number_map(value["notes"], "midi.notes", where);
    for (const auto& [n, cls] : midi.notes)
        if (!names.count(cls))
            throw PresetError(where, "midi.notes[" + std::to_string(n) + "] names unknown class '" + cls +
                                         "' (classes: " + join(class_names) + ")");
    midi.controls = midi_number_map(value["controls"], "midi.controls", where);
    for (const auto& [cc, param] : midi.controls) {
        if (param_index(param) < 0) {
            std::string names;
            for (int i = 0; i < PARAM_COUNT; ++i) names += std::string(i ? ", " : "") + PARAMS[i].name;
            throw PresetError(where, "midi.controls[" + std::to_string(cc) + "]: unknown engine parameter '" +
                                         param + "' (parameters: " + names + ")");
        }
        if (param.rfind("pca", 0) == 0 && std::atol(param.c_str() + 3) > pca_k)
            throw PresetError(where, "midi.controls[" + std::to_string(cc) + "] = '" + param +
                                         "' but the preset has " + std::to_string(pca_k) + " PCA axes");
    }
    const json& target = value["morph_target"];
    if (!target.is_null() && !(target.is_string() && names.count(target.get<std::string>())))
        throw PresetError(where, "midi.morph_target names unknown class " + repr(target));
    if (target.is_string()) midi.morph_target = target.get<std::string>();
    midi.xy_corners = class_name_list(value["xy_corners"], names, "midi.xy_corners", where);
    if (midi.xy_corners.size() != 4)
        throw PresetError(where, "midi.xy_corners must name 4 classes, got " + std::to_string(midi.xy_corners.size()));
    const json& groups = value["choke_groups"];
    if (!groups.is_array()) throw PresetError(where, "midi.choke_groups must be a list of lists of class names");
    for (size_t i = 0; i < groups.size(); ++i)
        midi.choke_groups.push_back(
            class_name_list(groups[i], names, "midi.choke_groups[" + std::to_string(i) + "]", where));
    const json& sustain = value["sustain"];
    if (!sustain.is_boolean()) throw PresetError(where, "midi.sustain must be true or false, got " + repr(sustain));
    midi.sustain = sustain.get<bool>();
    const json& pitch = value["pitch"];
    if (!pitch.is_object()) throw PresetError(where, "midi.pitch must be an object, got " + type_name(pitch));
    for (auto it = pitch.begin(); it != pitch.end(); ++it) {
        int n = 0;
        if (!midi_key(it.key(), n)) throw PresetError(where, "midi.pitch key '" + it.key() + "' is not a number 0-127");
        std::string what = "midi.pitch['" + it.key() + "']";
        double semitones = finite_number(it.value(), what, where);
        if (std::fabs(semitones) > MAX_PAD_SEMITONES)
            throw PresetError(where, what + " = " + it.value().dump() + " semitones is beyond +-48");
        midi.pitch_semitones[n] = semitones;
    }
    for (const auto& [n, semitones] : midi.pitch_semitones)
        if (!midi.notes.count(n))
            throw PresetError(where, "midi.pitch[" + std::to_string(n) + "] tunes note " + std::to_string(n) +
                                         ", which midi.notes does not map to a class");
    const json& pan = value["pan"];
    if (!pan.is_object()) throw PresetError(where, "midi.pan must be an object, got " + type_name(pan));
    for (auto it = pan.begin(); it != pan.end(); ++it) {
        if (!names.count(it.key()))
            throw PresetError(where, "midi.pan names unknown class '" + it.key() + "' (classes: " + join(class_names) + ")");
        std::string what = "midi.pan['" + it.key() + "']";
        double x = finite_number(it.value(), what, where);
        if (x < -1.0 || x > 1.0) throw PresetError(where, what + " = " + it.value().dump() + " is outside [-1, 1]");
        midi.pan[it.key()] = x;
    }
    return midi;
}

struct Parsed {
    Preset preset;
    std::vector<std::pair<std::string, std::pair<std::string, std::string>>> file_entries;  // role, (rel, sha)
};

Parsed parse(const json& data, const std::string& where) {
    if (!data.is_object()) throw PresetError(where, "the document must be a JSON object, got " + type_name(data));
    json fmt = data.contains("format") ? data["format"] : json();
    if (!(fmt.is_string() && fmt.get<std::string>() == FORMAT))
        throw PresetError(where, "'format' is " + repr(fmt) + ", expected '" + FORMAT + "' (not a vae-synth preset)");
    json version = data.contains("version") ? data["version"] : json();
    if (!is_int(version)) throw PresetError(where, "'version' must be an integer, got " + repr(version));
    if (version.get<int64_t>() < OLDEST_VERSION || version.get<int64_t>() > VERSION)
        throw PresetError(where, "unknown preset version " + version.dump() + "; this vae-synth reads versions " +
                                     std::to_string(OLDEST_VERSION) + " to " + std::to_string(VERSION) +
                                     " (a newer vae-synth may read it)");
    Parsed out;
    Preset& p = out.preset;
    p.name = str_field(data, "name", where);
    p.description = str_field(data, "description", where, false);
    p.sample_rate = int(int_field(data, "sample_rate", MIN_SAMPLE_RATE, MAX_SAMPLE_RATE, where));
    p.frame_length = int(int_field(data, "frame_length", MIN_FRAME_LENGTH, MAX_FRAME_LENGTH, where));
    p.latent_dim = int(int_field(data, "latent_dim", 1, MAX_LATENT_DIM, where));
    const size_t d = size_t(p.latent_dim);

    json classes = data.contains("classes") ? data["classes"] : json();
    if (!classes.is_array() || classes.empty()) throw PresetError(where, "'classes' must be a non-empty list");
    if (classes.size() > MAX_CLASSES)
        throw PresetError(where, std::to_string(classes.size()) + " classes is beyond the sane limit " +
                                     std::to_string(MAX_CLASSES));
    std::set<std::string> seen;
    for (size_t i = 0; i < classes.size(); ++i) {
        const json& c = classes[i];
        if (!c.is_object()) throw PresetError(where, "classes[" + std::to_string(i) + "] must be an object");
        PresetClass cls;
        cls.name = str_field(c, "name", where);
        if (seen.count(cls.name)) throw PresetError(where, "class name '" + cls.name + "' appears twice");
        seen.insert(cls.name);
        for (const char* key : {"centroid", "std", "count"})
            if (!c.contains(key))
                throw PresetError(where, "missing required field 'classes[" + std::to_string(i) + "]." + key + "' (" +
                                             cls.name + ")");
        cls.centroid = float_array(c["centroid"], {d}, "centroid of class '" + cls.name + "'", where);
        cls.std = float_array(c["std"], {d}, "std of class '" + cls.name + "'", where);
        for (float s : cls.std)
            if (s < 0) throw PresetError(where, "std of class '" + cls.name + "' has negative values");
        const json& count = c["count"];
        if (!is_int(count) || (count.is_number_integer() && !count.is_number_unsigned() && count.get<int64_t>() < 0))
            throw PresetError(where, "count of class '" + cls.name + "' must be an integer >= 0, got " + repr(count));
        cls.count = count.get<int64_t>();
        p.classes.push_back(std::move(cls));
    }
    std::vector<std::string> class_names;
    for (const auto& c : p.classes) class_names.push_back(c.name);

    json pca = data.contains("pca") ? data["pca"] : json();
    if (!pca.is_object()) throw PresetError(where, "missing required object 'pca'");
    for (const char* key : {"mean", "components", "explained_variance"})
        if (!pca.contains(key)) throw PresetError(where, std::string("missing required field 'pca.") + key + "'");
    const json& comps = pca["components"];
    if (!comps.is_array()) throw PresetError(where, "pca.components must be a list of rows");
    size_t k = comps.size();
    if (k > d)
        throw PresetError(where, "pca.components has " + std::to_string(k) + " rows, more than latent_dim " +
                                     std::to_string(d));
    p.pca_k = int(k);
    p.pca_mean = float_array(pca["mean"], {d}, "pca.mean", where);
    p.pca_components = float_array(comps, {k, d}, "pca.components", where);
    p.pca_variance = float_array(pca["explained_variance"], {k}, "pca.explained_variance", where);

    json files = data.contains("files") ? data["files"] : json();
    if (!files.is_object()) throw PresetError(where, "missing required object 'files'");
    std::vector<std::string> roles(std::begin(ROLES), std::end(ROLES));
    roles.push_back(DATA_FILE_ROLE);
    for (const std::string& role : roles) {
        json entry = files.contains(role) ? files[role] : json();
        if (entry.is_null() && role == DATA_FILE_ROLE) continue;
        if (!entry.is_object()) throw PresetError(where, "missing required entry files." + role);
        std::string rel = str_field(entry, "path", where);
        std::string digest = str_field(entry, "sha256", where);
        if (rel.find('/') != std::string::npos || rel == "." || rel == ".." || rel.find('\\') != std::string::npos)
            throw PresetError(where, "files." + role + ".path '" + rel + "' must be a file name in the preset folder");
        bool hex = digest.size() == 64;
        for (char& ch : digest) {
            ch = char(std::tolower(static_cast<unsigned char>(ch)));
            if (!std::strchr("0123456789abcdef", ch) || ch == 0) hex = false;
        }
        if (!hex)
            throw PresetError(where, "files." + role + ".sha256 is not a sha256 hex digest: '" +
                                         entry["sha256"].get<std::string>() + "'");
        out.file_entries.push_back({role, {rel, digest}});
    }

    // version 1 -> 2: midi.pitch and midi.pan, optional before, are always there
    json midi_doc = data.contains("midi") ? data["midi"] : json();
    if (version.get<int64_t>() == 1 && midi_doc.is_object())
        for (const char* key : {"pitch", "pan"})
            if (!midi_doc.contains(key)) midi_doc[key] = json::object();
    p.midi = parse_midi(midi_doc, class_names, int(k), where);

    json training = data.contains("training") ? data["training"] : json();
    if (!training.is_object()) throw PresetError(where, "missing required object 'training'");
    for (const char* key : {"arch", "data", "licence", "attribution"})
        if (!(training.contains(key) && training[key].is_string() && !is_nonfinite_marker(training[key])))
            throw PresetError(where, std::string("training.") + key + " must be a string");
    for (const char* key : {"config", "metrics"})
        if (!(training.contains(key) && training[key].is_object()))
            throw PresetError(where, std::string("training.") + key + " must be an object");
    if (data.contains("export") && !data["export"].is_object())
        throw PresetError(where, "'export' must be an object, got " + type_name(data["export"]));
    return out;
}

json read_json(const std::string& json_path) {
    struct stat st;
    if (::stat(json_path.c_str(), &st) != 0) throw PresetError(json_path, "missing (a preset folder holds preset.json)");
    if (st.st_size > MAX_JSON_BYTES)
        throw PresetError(json_path, std::to_string(st.st_size) + " bytes is beyond the sane limit " +
                                         std::to_string(MAX_JSON_BYTES));
    std::ifstream in(json_path, std::ios::binary);
    if (!in) throw PresetError(json_path, std::string("cannot read: ") + std::strerror(errno));
    std::stringstream buffer;
    buffer << in.rdbuf();
    std::string text = buffer.str();
    if (text.size() >= 3 && (unsigned char)text[0] == 0xEF && (unsigned char)text[1] == 0xBB &&
        (unsigned char)text[2] == 0xBF)
        throw PresetError(json_path, "invalid JSON: Unexpected UTF-8 BOM (decode using utf-8-sig)");
    try {
        return json::parse(sanitize_nonfinite(text));
    } catch (const json::parse_error& e) {
        std::string what = e.what();
        size_t at = what.find("syntax error");
        throw PresetError(json_path, "invalid JSON: " + (at == std::string::npos ? what : what.substr(at)));
    }
}

bool is_file(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool is_dir(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string absolute(const std::string& path) {
    std::error_code ec;
    fs::path p = fs::canonical(path, ec);
    return ec ? fs::absolute(path).string() : p.string();
}

std::string expand_user(const std::string& path) {
    if (path.empty() || path[0] != '~') return path;
    const char* home = std::getenv("HOME");
    return std::string(home ? home : "") + path.substr(1);
}

void check_onnx(Runtime* rt, const std::string& path, const std::string& role, int d, int length, int c) {
    std::unique_ptr<Session> session;
    try {
        session = std::make_unique<Session>(rt, path, false, "cpu");
    } catch (const std::exception& e) {
        std::string msg = e.what();
        while (!msg.empty() && (msg[0] == ':' || msg[0] == ' ')) msg.erase(0, 1);
        msg = msg.substr(0, msg.find('\n'));
        throw PresetError(path, "not a loadable ONNX model (" + msg.substr(0, 300) + ")");
    }
    // expected interface: name -> shape, -2 for the dynamic batch "N"
    const int64_t N = -2;
    std::map<std::string, std::vector<int64_t>> in, out;
    if (role == "decoder") { in = {{"z", {1, d}}}; out = {{"audio", {1, length}}}; }
    else if (role == "decoder_batch") { in = {{"z", {N, d}}}; out = {{"audio", {N, length}}}; }
    else if (role == "encoder") { in = {{"audio", {N, length}}}; out = {{"mu", {N, d}}, {"logvar", {N, d}}}; }
    else { in = {{"z", {N, d}}}; out = {{"logits", {N, c}}}; }
    auto inputs = session->inputs();
    auto outputs = session->outputs();
    std::set<std::string> have_in, want_in;
    for (const auto& t : inputs) have_in.insert(t.name);
    for (const auto& [name, shape] : in) want_in.insert(name);
    auto listing = [](const std::set<std::string>& s) {
        std::string o = "[";
        for (const auto& x : s) o += (o.size() > 1 ? ", '" : "'") + x + "'";
        return o + "]";
    };
    if (have_in != want_in)
        throw PresetError(path, role + " inputs are " + listing(have_in) + ", expected " + listing(want_in));
    std::set<std::string> have_out;
    for (const auto& t : outputs) have_out.insert(t.name);
    for (const auto& [name, shape] : out)
        if (!have_out.count(name))
            throw PresetError(path, role + " has no output '" + name + "' (outputs: " + listing(have_out) + ")");
    auto shape_text = [](const std::vector<int64_t>& s) {
        std::string o = "[";
        for (size_t i = 0; i < s.size(); ++i)
            o += (i ? ", " : "") + (s[i] == -2 ? std::string("'N'") : s[i] < 0 ? std::string("None") : std::to_string(s[i]));
        return o + "]";
    };
    for (int pass = 0; pass < 2; ++pass) {
        const auto& table = pass == 0 ? inputs : outputs;
        const auto& expected = pass == 0 ? in : out;
        const char* kind = pass == 0 ? "input" : "output";
        for (const auto& [name, shape] : expected) {
            const TensorInfo* arg = nullptr;
            for (const auto& t : table)
                if (t.name == name) arg = &t;
            if (!arg->is_float_tensor)
                throw PresetError(path, role + " " + kind + " '" + name + "' has type " + arg->type +
                                            ", expected tensor(float) (float32)");
            std::string problem;
            if (!arg->has_shape || arg->shape.size() != shape.size()) {
                problem = "shape " + (arg->has_shape ? shape_text(arg->shape) : "None") + " (expected rank " +
                          std::to_string(shape.size()) + ": " + shape_text(shape) + ")";
            } else {
                for (size_t i = 0; i < shape.size() && problem.empty(); ++i) {
                    if (shape[i] == N) {
                        if (arg->shape[i] > 0)
                            problem = "shape " + shape_text(arg->shape) + " has a fixed batch " +
                                      std::to_string(arg->shape[i]) + ", expected a dynamic batch " + shape_text(shape);
                    } else if (arg->shape[i] != shape[i]) {
                        problem = "shape " + shape_text(arg->shape) + ", expected " + shape_text(shape);
                    }
                }
            }
            if (!problem.empty()) throw PresetError(path, role + " " + kind + " '" + name + "': " + problem);
        }
    }
}

}  // namespace

int Preset::class_index(const std::string& n) const {
    for (size_t i = 0; i < classes.size(); ++i)
        if (classes[i].name == n) return int(i);
    return -1;
}

std::vector<std::pair<std::string, std::string>> search_path() {
    std::vector<std::pair<std::string, std::string>> dirs;
    if (const char* env = std::getenv("VAE_SYNTH_PRESETS")) {
        std::string all = env, entry;
        std::stringstream ss(all);
        while (std::getline(ss, entry, ':'))
            if (!python_strip(entry).empty()) dirs.push_back({"env", expand_user(entry)});
    }
    const char* xdg = std::getenv("XDG_DATA_HOME");
    const char* home = std::getenv("HOME");
    std::string base = (xdg && *xdg) ? xdg : std::string(home ? home : "") + "/.local/share";
    dirs.push_back({"user", base + "/vae-synth/presets"});
    dirs.push_back({"bundled", VS_BUNDLED_PRESETS});
    return dirs;
}

std::string resolve_preset(const std::string& name_or_path) {
    std::string p = expand_user(name_or_path);
    struct stat st;
    if (!p.empty() && ::stat(p.c_str(), &st) == 0) {
        if (S_ISREG(st.st_mode) && fs::path(p).filename() == PRESET_JSON) return absolute(fs::path(p).parent_path().string());
        if (S_ISDIR(st.st_mode)) {
            if (!is_file(p + "/" + PRESET_JSON))
                throw PresetError(p + "/" + PRESET_JSON,
                                  "missing: this folder is not a preset (a preset folder holds preset.json)");
            return absolute(p);
        }
        throw PresetError(p, "is not a preset folder (expected a folder holding preset.json)");
    }
    if (name_or_path.find('/') != std::string::npos || name_or_path.empty() || name_or_path == "." ||
        name_or_path == "..")
        throw PresetError(p, "no such preset folder");
    std::string searched;
    for (const auto& [source, folder] : search_path()) {
        std::string candidate = folder + "/" + name_or_path;
        if (is_file(candidate + "/" + PRESET_JSON)) return absolute(candidate);
        searched += (searched.empty() ? "" : ", ") + folder;
    }
    std::set<std::string> available;
    for (const auto& e : list_presets()) available.insert(e.name);
    std::string names;
    for (const auto& n : available) names += (names.empty() ? "" : ", ") + n;
    throw PresetError("", "no preset named '" + name_or_path + "' (searched " + searched + "); installed: " +
                              (names.empty() ? "none" : names));
}

std::vector<PresetEntry> list_presets() {
    std::vector<PresetEntry> out;
    for (const auto& [source, folder] : search_path()) {
        if (!is_dir(folder)) continue;
        std::vector<std::string> names;
        std::error_code ec;
        for (const auto& entry : fs::directory_iterator(folder, ec)) names.push_back(entry.path().filename().string());
        std::sort(names.begin(), names.end());
        for (const auto& name : names) {
            if (name.empty() || name[0] == '.') continue;
            std::string sub = folder + "/" + name;
            if (!is_file(sub + "/" + PRESET_JSON)) continue;
            out.push_back({name, sub, source});
        }
    }
    return out;
}

std::vector<PresetEntry> installed_programs() {
    std::vector<PresetEntry> out;
    std::set<std::string> seen;
    for (const auto& e : list_presets())
        if (seen.insert(e.name).second) out.push_back(e);
    std::stable_sort(out.begin(), out.end(), [](const PresetEntry& a, const PresetEntry& b) { return a.name < b.name; });
    return out;
}

void validate_preset_json(const std::string& text, const std::string& where) {
    json data;
    try {
        data = json::parse(sanitize_nonfinite(text));
    } catch (const json::parse_error& e) {
        throw PresetError(where, std::string("invalid JSON: ") + e.what());
    }
    parse(data, where);
}

Preset load_preset(const std::string& name_or_path, Runtime* rt) {
    std::string folder = resolve_preset(name_or_path);
    std::string json_path = folder + "/" + PRESET_JSON;
    json data = read_json(json_path);
    Parsed parsed = parse(data, json_path);
    Preset p = std::move(parsed.preset);
    p.path = folder;
    for (const auto& [role, entry] : parsed.file_entries) {
        const auto& [rel, digest] = entry;
        std::string path = folder + "/" + rel;
        if (!is_file(path)) throw PresetError(path, "missing (" + role + " file named in " + json_path + ")");
        struct stat st;
        ::stat(path.c_str(), &st);
        if (st.st_size > MAX_ONNX_BYTES)
            throw PresetError(path, std::to_string(st.st_size) + " bytes is beyond the sane limit " +
                                        std::to_string(MAX_ONNX_BYTES));
        std::string error;
        std::string actual = sha256_file(path, error);
        if (actual.empty()) throw PresetError(path, "cannot read: " + error);
        if (actual != digest)
            throw PresetError(path, "sha256 mismatch: the file hashes to " + actual.substr(0, 12) +
                                        "..., preset.json says " + digest.substr(0, 12) +
                                        "... (changed, truncated or replaced after export)");
        p.files[role] = path;
    }
    if (rt)
        for (const char* role : ROLES)
            check_onnx(rt, p.files[role], role, p.latent_dim, p.frame_length, int(p.classes.size()));
    return p;
}

std::map<int, std::string> learned_controls(const std::string& preset_name) {
    std::map<int, std::string> out;
    const char* xdg = std::getenv("XDG_CONFIG_HOME");
    const char* home = std::getenv("HOME");
    std::string base = (xdg && *xdg) ? xdg : std::string(home ? home : "") + "/.config";
    std::ifstream in(base + "/vae-synth/midi_learn.json");
    if (!in) return out;
    try {
        json data = json::parse(in);
        if (!data.is_object() || !data.contains(preset_name) || !data[preset_name].is_object()) return out;
        for (auto it = data[preset_name].begin(); it != data[preset_name].end(); ++it) {
            int cc = 0;
            if (!it.value().is_string() || param_index(it.value().get<std::string>()) < 0) continue;
            if (!midi_key(it.key(), cc)) continue;
            out[cc] = it.value().get<std::string>();
        }
    } catch (const std::exception&) {
        out.clear();  // as the player: an unreadable learn file is ignored
    }
    return out;
}

}  // namespace vs
