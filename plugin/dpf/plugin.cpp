// The thin DPF front-end: host parameters, MIDI and state mapped onto vs::Engine, which knows
// nothing of DPF. Parameters: every row of the engine's parameter table (normalised 0..1, named
// as in the preset format), then `preset` (the number `vae-synth presets` shows, -1 = the project's) and
// `offline` (process() waits for each decode, for offline renders). MIDI Program Change picks a
// preset by the same number. State: the preset's folder
// and name, never its number.
#include "DistrhoPlugin.hpp"

#include <cmath>
#include <memory>
#include <string>

#include "engine.hpp"
#include "params.hpp"

START_NAMESPACE_DISTRHO

namespace {

const uint32_t MAX_PRESET_NUMBER = 127;
enum StateIndex { kStatePresetName = 0, kStatePresetPath, kStateCount };

}  // namespace

class VaeSynthPlugin : public Plugin {
public:
    VaeSynthPlugin() : Plugin(uint32_t(vs::PARAM_COUNT) + 2, 0, kStateCount) {
        if (!isDummyInstance()) engine_ = std::make_unique<vs::Engine>(getSampleRate());
    }

protected:
    const char* getLabel() const override { return "vae_synth"; }
    const char* getDescription() const override {
        return "Neural drum and voice synthesizer: plays the latent space of a variational autoencoder "
               "(vae-synth preset bundles, decoded with ONNX Runtime).";
    }
    const char* getMaker() const override { return "vae-synth developers"; }
    const char* getHomePage() const override { return "https://github.com/vae-synth/vae-synth"; }
    const char* getLicense() const override { return "MIT"; }
    uint32_t getVersion() const override { return d_version(0, 1, 0); }
    int64_t getUniqueId() const override { return d_cconst('V', 's', 'y', 'n'); }

    void initAudioPort(bool input, uint32_t index, AudioPort& port) override {
        port.groupId = kPortGroupStereo;
        Plugin::initAudioPort(input, index, port);
    }

    void initParameter(uint32_t index, Parameter& parameter) override {
        const uint32_t count = uint32_t(vs::PARAM_COUNT);
        if (index < count) {
            const vs::ParamSpec& spec = vs::PARAMS[index];
            parameter.hints = kParameterIsAutomatable;
            parameter.name = spec.name;
            parameter.symbol = spec.name;
            parameter.unit = "";
            parameter.description = spec.description;
            parameter.ranges.min = 0.0f;
            parameter.ranges.max = 1.0f;
            parameter.ranges.def = float(spec.default_x);
        } else if (index == count) {
            parameter.hints = kParameterIsAutomatable | kParameterIsInteger;
            parameter.name = "preset";
            parameter.symbol = "preset";
            parameter.description = "the installed preset of this number in `vae-synth presets` (its "
                                    "Program Change number); -1 keeps the project's preset (default: drums)";
            parameter.ranges.min = -1.0f;
            parameter.ranges.max = float(MAX_PRESET_NUMBER);
            parameter.ranges.def = -1.0f;
        } else {
            parameter.hints = kParameterIsAutomatable | kParameterIsBoolean | kParameterIsInteger;
            parameter.name = "offline";
            parameter.symbol = "offline";
            parameter.description = "offline render: each block waits for the decode it needs";
            parameter.ranges.min = 0.0f;
            parameter.ranges.max = 1.0f;
            parameter.ranges.def = 0.0f;
        }
    }

    float getParameterValue(uint32_t index) const override {
        const uint32_t count = uint32_t(vs::PARAM_COUNT);
        if (!engine_) return index < count ? float(vs::PARAMS[index].default_x) : (index == count ? -1.0f : 0.0f);
        if (index < count) return float(engine_->get_param(int(index)));
        if (index == count) return float(engine_->preset_number());
        return engine_->offline() ? 1.0f : 0.0f;
    }

    void setParameterValue(uint32_t index, float value) override {
        if (!engine_) return;
        const uint32_t count = uint32_t(vs::PARAM_COUNT);
        if (index < count) engine_->set_param(int(index), double(value));
        else if (index == count) engine_->set_preset_number(int(std::lround(value)));
        else engine_->set_offline(value > 0.5f);
    }

    void initState(uint32_t index, State& state) override {
        state.hints = kStateIsOnlyForDSP;
        if (index == kStatePresetName) {
            state.key = "preset_name";
            state.defaultValue = "drums";
            state.label = "preset name";
        } else {
            state.key = "preset";
            state.defaultValue = "";
            state.label = "preset folder";
        }
    }

    String getState(const char* key) const override {
        if (!engine_) return String();
        if (std::string(key) == "preset_name") return String(engine_->preset_name().c_str());
        return String(engine_->preset_path().c_str());
    }

    void setState(const char* key, const char* value) override {
        if (!engine_) return;
        engine_->begin_state_restore();
        // hosts restore the two keys in either order: each sets its half, the newest pair wins
        if (std::string(key) == "preset_name") restored_name_ = value;
        else restored_path_ = value;
        engine_->set_preset(restored_path_, restored_name_);
    }

    void activate() override {
        if (engine_) engine_->activate(getSampleRate());
    }

    void run(const float**, float** outputs, uint32_t frames, const MidiEvent* midi, uint32_t count) override {
        if (!engine_) {
            for (uint32_t k = 0; k < frames; ++k) outputs[0][k] = outputs[1][k] = 0.0f;
            return;
        }
        // the engine's view of the events: whole short messages (SysEx is not for us)
        uint32_t n = 0;
        for (uint32_t i = 0; i < count && n < MAX_EVENTS; ++i) {
            if (midi[i].size == 0 || midi[i].size > 3) continue;
            vs::MidiMessage& m = events_[n++];
            m.frame = midi[i].frame;
            m.size = uint8_t(midi[i].size);
            for (uint32_t b = 0; b < 3; ++b) m.data[b] = b < midi[i].size ? midi[i].data[b] : 0;
        }
        engine_->process(outputs[0], outputs[1], frames, events_, n);
    }

private:
    static constexpr uint32_t MAX_EVENTS = 2048;
    std::unique_ptr<vs::Engine> engine_;
    vs::MidiMessage events_[MAX_EVENTS];
    std::string restored_path_, restored_name_ = "drums";

    DISTRHO_DECLARE_NON_COPYABLE_WITH_LEAK_DETECTOR(VaeSynthPlugin)
};

Plugin* createPlugin() { return new VaeSynthPlugin(); }

END_NAMESPACE_DISTRHO
