// The engine's parameters, from the one parameter table (synth/parameters.json, compiled in as
// parameter_table.inc by the build), and the snapshot of their current values.
//
// As in synth/params.py every value is stored normalised to [0, 1] (a 7-bit controller value /
// 127); the taper turns it into the parameter's unit. Writers (the host's parameter calls and the
// MIDI router, both on the audio thread in every format here) store single atomics; the decode
// thread reads them; `version` grows on every change of a latent parameter.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace vs {

struct ParamSpec {
    const char* name;
    bool latent;
    double default_x;
    double low, high;
    bool square;
    const char* unit;
    const char* description;
    double off_from;  // < 0: none
    double value(double x) const { return square ? low + (high - low) * (x * x) : low + (high - low) * x; }
    bool is_off(double x) const { return off_from >= 0.0 && x >= off_from; }
};

extern const ParamSpec PARAMS[];
extern const int PARAM_COUNT;
constexpr int MAX_PARAMS = 64;
int param_index(const std::string& name);  // -1 when not in the table

// The latent-space controls at one moment (the values in their units, as synth.params.LatentState).
struct LatentState {
    uint64_t version = 0;
    double morph = 0.0, x = 0.5, y = 0.5, variation = 0.0;
    double pca[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    bool xy_touched = false;
    uint64_t variation_seed = 0;
};

class ControlSnapshot {
public:
    ControlSnapshot();
    // Set parameter i to x (clamped to [0, 1]); true when it changed a latent parameter.
    bool set(int i, double x);
    double get(int i) const { return values_[i].load(std::memory_order_relaxed); }
    uint64_t version() const { return version_.load(std::memory_order_acquire); }
    // read without locks: version first, so a torn read only costs one more decode
    LatentState latent_state() const;
    void reset();

private:
    std::atomic<double> values_[MAX_PARAMS];
    std::atomic<uint64_t> version_{0};
    std::atomic<uint64_t> variation_seed_{0};
    std::atomic<bool> xy_touched_{false};
    int morph_, x_, y_, variation_, pca_[8];
};

}  // namespace vs
