#include "engine.hpp"

#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>

#include "latent.hpp"
#include "ort.hpp"
#include "preset.hpp"
#include "resample.hpp"

namespace vs {

namespace {

const double END_FADE_MS = 2.0;     // one-shots end with a short fade (synth/bank.py)
const double LOOP_XFADE_MS = 30.0;  // sustained loops: crossfade of the frame's tail into its head
const double KEEPWARM_S = 0.25;     // ONNX Runtime slows down after idling: decode when idle
enum { EV_NOTE_ON = 1, EV_NOTE_OFF = 2, EV_PANIC = 3 };

double now_s() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

void sem_wait_for(sem_t* sem, double seconds) {
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double t = double(ts.tv_nsec) * 1e-9 + seconds;
    ts.tv_sec += time_t(t);
    ts.tv_nsec = long((t - double(time_t(t))) * 1e9);
    while (sem_timedwait(sem, &ts) != 0 && errno == EINTR) {
    }
}

}  // namespace

// One preset made playable at one output rate (synth/engine.py's Instrument).
struct Program {
    std::atomic<int> refs{1};
    Preset preset;
    std::unique_ptr<LatentMap> latent;
    std::unique_ptr<Resampler> resampler;
    std::unique_ptr<Session> one, batch;
    int n = 0, d = 0, samplerate = 0, frame_frames = 0, end_fade = 1, loop_xfade = 1, loop_pad = 0;
    bool sustain = false;
    int64_t loop_start = 0, loop_end = 0;
    std::vector<float> fade;
    int note_class[128];
    double note_rate[128];
    int cc_param[128];
    std::vector<int> class_group;
    std::vector<double> class_pan;
};

// One class's decoded sound at the output rate: a one-shot, or (sustained presets) a loop buffer.
struct Sound {
    std::atomic<int> refs{1};
    std::vector<float> data;
};

// A published bank: one sound per class and the controller-state version each was decoded at.
// Owned by exactly one holder (the worker, the mailbox or the audio thread).
struct Bank {
    Program* program = nullptr;
    std::vector<Sound*> sounds;
    std::vector<uint64_t> versions;
};

static Bank* clone_bank(const Bank* b) {
    auto* copy = new Bank(*b);
    copy->program->refs.fetch_add(1);
    for (Sound* s : copy->sounds) s->refs.fetch_add(1);
    return copy;
}

Engine::Engine(double samplerate) : returned_(RETURN_CAPACITY), returned_is_bank_(RETURN_CAPACITY, 0) {
    param_morph_ = param_index("morph");
    param_volume_ = param_index("volume");
    param_decay_ = param_index("decay");
    param_pitch_ = param_index("pitch");
    param_bend_ = param_index("bend");
    for (auto& slot : returned_) slot.store(nullptr);
    samplerate_ = samplerate > 0 ? int(std::lround(samplerate)) : 48000;
    mixer_ = vs_mixer_new(VOICES, samplerate_, MAX_FRAMES, 8);
    output_ = vs_output_new(samplerate_, MAX_FRAMES);
    mix_l_.assign(MAX_FRAMES, 0.0);
    mix_r_.assign(MAX_FRAMES, 0.0);
    loops_.assign(1024, vs_buffer{nullptr, 0, nullptr});
    taken_.assign(1024, 0);
    sem_init(&wake_, 0, 0);
    sem_init(&published_, 0, 0);
    target_rate_.store(samplerate_);
    request_.name = "drums";  // the default; a restored project names its own
    request_.samplerate = samplerate_;
    request_.serial = request_serial_.fetch_add(1) + 1;
    info_name_ = request_.name;
    worker_ = std::thread([this] { worker_main(); });
}

Engine::~Engine() {
    stopping_.store(true);
    sem_post(&wake_);
    if (worker_.joinable()) worker_.join();
    if (mixer_) {
        vs_mixer_clear(mixer_);
        drain_released();
    }
    reap();
    if (Bank* b = mailbox_.exchange(nullptr)) release_bank(b);
    if (current_) release_bank(current_);
    if (latest_) release_bank(latest_);
    if (program_ && program_->refs.fetch_sub(1) == 1) delete program_;
    reap();
    vs_mixer_free(mixer_);
    vs_output_free(output_);
    sem_destroy(&wake_);
    sem_destroy(&published_);
}

// -- main thread ---------------------------------------------------------------------------

void Engine::activate(double samplerate) {
    int rate = samplerate > 0 ? int(std::lround(samplerate)) : samplerate_;
    if (rate != samplerate_ || !mixer_) {
        if (mixer_) {
            vs_mixer_clear(mixer_);
            drain_released();
        }
        vs_mixer_free(mixer_);
        vs_output_free(output_);
        samplerate_ = rate;
        mixer_ = vs_mixer_new(VOICES, samplerate_, MAX_FRAMES, 8);
        output_ = vs_output_new(samplerate_, MAX_FRAMES);
        // banks at the old rate must not play: back to the worker, reloaded at this rate
        if (Bank* b = mailbox_.exchange(nullptr)) give_back(b, true);
        if (current_) give_back(current_, true);
        current_ = nullptr;
        ready_.store(false);
        request_reload();
    } else {
        vs_mixer_clear(mixer_);
        drain_released();
        vs_output_reset(output_);
    }
    pending_count_ = 0;
    sem_post(&wake_);
}

void Engine::request_reload() {
    target_rate_.store(samplerate_);
    rate_request_.store(samplerate_);
    request_serial_.fetch_add(1);
    sem_post(&wake_);
}

void Engine::set_preset(const std::string& path, const std::string& name) {
    {
        std::lock_guard<std::mutex> lock(request_mutex_);
        request_.path = path;
        request_.name = name;
        request_.number = 0;
        request_.serial = request_serial_.fetch_add(1) + 1;
    }
    {
        std::lock_guard<std::mutex> lock(info_mutex_);
        info_path_ = path;
        info_name_ = name;
    }
    sem_post(&wake_);
}

void Engine::begin_state_restore() { restoring_.store(true); }

std::string Engine::preset_path() const {
    std::lock_guard<std::mutex> lock(info_mutex_);
    return info_path_;
}

std::string Engine::preset_name() const {
    std::lock_guard<std::mutex> lock(info_mutex_);
    return info_name_;
}

std::string Engine::status() const {
    std::lock_guard<std::mutex> lock(info_mutex_);
    return status_;
}

bool Engine::wait_idle(double seconds) {
    double end = now_s() + seconds;
    while (now_s() < end) {
        if (idle_.load() && request_serial_.load() == loaded_serial_.load()) return true;
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, nullptr);
    }
    return false;
}

// -- any thread (the audio thread in every format built here) ------------------------------

void Engine::set_param(int index, double x) {
    if (snapshot_.set(index, x)) {
        idle_.store(false);
        sem_post(&wake_);
    }
}

void Engine::set_preset_number(int k) {
    preset_number_.store(k);
    if (restoring_.load()) {  // the value a restored project carries: its state says the preset
        preset_baseline_ = k;
        return;
    }
    if (k == preset_baseline_) return;
    preset_baseline_ = k;
    if (k < 0) return;
    number_request_.store(k);
    request_serial_.fetch_add(1);
    idle_.store(false);
    sem_post(&wake_);
}

// -- the worker thread ---------------------------------------------------------------------

void Engine::report(const std::string& message) {
    {
        std::lock_guard<std::mutex> lock(info_mutex_);
        status_ = message;
    }
    std::fprintf(stderr, "vae-synth: %s\n", message.c_str());
    std::fflush(stderr);
}

void Engine::give_back(void* item, bool is_bank) {
    int64_t w = returned_write_.load(std::memory_order_relaxed);
    if (w - returned_read_.load(std::memory_order_acquire) >= RETURN_CAPACITY) {
        stats.lost.fetch_add(1, std::memory_order_relaxed);  // never freed here: a counted leak
        return;
    }
    returned_is_bank_[w % RETURN_CAPACITY] = is_bank;
    returned_[w % RETURN_CAPACITY].store(item, std::memory_order_relaxed);
    returned_write_.store(w + 1, std::memory_order_release);
}

void Engine::release_bank(Bank* b) {
    for (Sound* s : b->sounds)
        if (s->refs.fetch_sub(1) == 1) delete s;
    if (b->program->refs.fetch_sub(1) == 1) delete b->program;
    delete b;
}

void Engine::reap() {
    int64_t end = returned_write_.load(std::memory_order_acquire);
    for (int64_t r = returned_read_.load(std::memory_order_relaxed); r < end; ++r) {
        void* item = returned_[r % RETURN_CAPACITY].load(std::memory_order_relaxed);
        if (returned_is_bank_[r % RETURN_CAPACITY]) release_bank(static_cast<Bank*>(item));
        else delete static_cast<Sound*>(item);
    }
    returned_read_.store(end, std::memory_order_release);
}

void Engine::publish(Bank* bank) {
    if (latest_) release_bank(latest_);
    latest_ = bank;
    if (Bank* unseen = mailbox_.exchange(clone_bank(bank))) release_bank(unseen);
    sem_post(&published_);
}

// decode `classes` at `state` into new sounds (one ONNX call), as synth/bank.py BankBuilder.build
static std::vector<Sound*> decode_sounds(Program& p, const LatentState& state, const std::vector<int>& classes) {
    const int n = int(classes.size());
    std::vector<float> z(size_t(n) * p.d);
    for (int row = 0; row < n; ++row) p.latent->point(state, classes[row], &z[size_t(row) * p.d]);
    std::vector<float> audio;
    int64_t length = 0;
    (n == 1 ? p.one : p.batch)->run(z.data(), n, p.d, audio, length);
    if (length != p.preset.frame_length) throw std::runtime_error("the decoder returned frames of the wrong length");
    std::vector<Sound*> out;
    std::vector<float> frame(p.frame_frames);
    for (int row = 0; row < n; ++row) {
        float* a = &audio[size_t(row) * length];
        bool finite = true;
        for (int64_t i = 0; i < length; ++i) finite = finite && std::isfinite(a[i]);
        if (!finite) std::fill(a, a + length, 0.0f);  // a NaN frame plays as silence
        (*p.resampler)(a, frame.data());
        int L = p.frame_frames;
        for (int i = 0; i < p.end_fade; ++i) frame[L - p.end_fade + i] *= p.fade[i];
        auto* s = new Sound();
        if (!p.sustain) {
            s->data = frame;
        } else {
            // synth/bank.py loop_buffer: the head as is, the tail crossfaded into the head,
            // then `pad` samples of the repeating region for reads across the loop point
            int xfade = std::max(1, std::min(p.loop_xfade, L / 3));
            s->data.assign(size_t(L) + p.loop_pad, 0.0f);
            float* o = s->data.data();
            for (int i = 0; i < L - xfade; ++i) o[i] = frame[i];
            for (int i = 0; i < xfade; ++i) {
                float w = (float(i) + 0.5f) / float(xfade);
                float tail = frame[L - xfade + i] * (1.0f - w);
                float head = frame[i] * w;
                o[L - xfade + i] = tail + head;
            }
            int start = xfade, region = L - xfade;
            for (int i = 0; i < p.loop_pad; ++i) o[L + i] = o[start + (i % region)];
            p.loop_start = start;
            p.loop_end = L;
        }
        out.push_back(s);
    }
    return out;
}

bool Engine::load(const Request& req) {
    std::string where = req.path.empty() ? req.name : req.path;
    try {
        std::string error;
        Runtime* rt = Runtime::get(error);
        if (!rt) throw std::runtime_error(error);
        std::string folder;
        try {
            folder = resolve_preset(where);
        } catch (const PresetError&) {
            if (req.path.empty() || req.name.empty()) throw;
            folder = resolve_preset(req.name);  // the project's folder is gone: the same name here
        }
        if (program_ && program_->preset.path == folder && program_->samplerate == req.samplerate) return true;
        auto prog = std::make_unique<Program>();
        prog->preset = load_preset(folder, rt);
        const Preset& ps = prog->preset;
        Program& p = *prog;
        p.n = int(ps.classes.size());
        p.d = ps.latent_dim;
        p.samplerate = req.samplerate;
        p.latent = std::make_unique<LatentMap>(ps);
        p.one = std::make_unique<Session>(rt, ps.files.at("decoder"), true, "auto");
        p.batch = std::make_unique<Session>(rt, ps.files.at("decoder_batch"), true, "auto");
        p.resampler = std::make_unique<Resampler>(ps.sample_rate, p.samplerate, ps.frame_length);
        p.frame_frames = p.resampler->length_out();
        p.sustain = ps.midi.sustain;
        p.end_fade = std::max(1, int(END_FADE_MS * 1e-3 * p.samplerate));
        p.end_fade = std::min(p.end_fade, p.frame_frames);
        p.loop_xfade = std::max(1, int(LOOP_XFADE_MS * 1e-3 * p.samplerate));
        p.loop_pad = 4 * MAX_FRAMES + 4;  // a block may read 4x ahead (+24 semitones) past the end
        p.fade.resize(p.end_fade);
        // numpy.linspace(1, 0, n, dtype=float32): i * step + 1 in float64, the last exactly 0
        double step = p.end_fade > 1 ? -1.0 / double(p.end_fade - 1) : 0.0;
        for (int i = 0; i < p.end_fade; ++i) p.fade[i] = float(double(i) * step + 1.0);
        if (p.end_fade > 1) p.fade[p.end_fade - 1] = 0.0f;
        for (int i = 0; i < 128; ++i) {
            p.note_class[i] = -1;
            p.note_rate[i] = 1.0;
            p.cc_param[i] = -1;
        }
        for (const auto& [note, name] : ps.midi.notes) p.note_class[note] = ps.class_index(name);
        for (const auto& [note, semitones] : ps.midi.pitch_semitones) p.note_rate[note] = std::pow(2.0, semitones / 12.0);
        p.class_group.assign(p.n, -1);
        for (size_t g = 0; g < ps.midi.choke_groups.size(); ++g)
            for (const auto& name : ps.midi.choke_groups[g]) p.class_group[ps.class_index(name)] = int(g);
        p.class_pan.assign(p.n, 0.0);
        for (const auto& [name, pan] : ps.midi.pan) p.class_pan[ps.class_index(name)] = pan;
        auto controls = ps.midi.controls;
        for (const auto& [cc, name] : learned_controls(ps.name)) {  // `vae-synth play`'s MIDI learn
            for (auto it = controls.begin(); it != controls.end();)
                it = it->second == name ? controls.erase(it) : std::next(it);
            controls[cc] = name;
        }
        for (const auto& [cc, name] : controls) p.cc_param[cc] = param_index(name);
        // first-call costs (allocation, kernel choice) are paid here, not on a note
        std::vector<float> warm(size_t(p.n) * p.d, 0.1f), scratch;
        int64_t len = 0;
        for (int i = 0; i < 3; ++i) {
            p.one->run(warm.data(), 1, p.d, scratch, len);
            p.batch->run(warm.data(), p.n, p.d, scratch, len);
        }
        LatentState state = snapshot_.latent_state();
        std::vector<int> all(p.n);
        for (int c = 0; c < p.n; ++c) all[c] = c;
        auto* bank = new Bank();
        bank->program = prog.release();
        bank->sounds = decode_sounds(*bank->program, state, all);
        bank->versions.assign(bank->program->n, state.version);
        if (program_ && program_->refs.fetch_sub(1) == 1) delete program_;
        program_ = bank->program;
        program_->refs.fetch_add(1);  // the worker's own reference
        last_class_ = -1;
        publish(bank);
        {
            std::lock_guard<std::mutex> lock(info_mutex_);
            info_path_ = program_->preset.path;
            info_name_ = program_->preset.name;
        }
        std::string device = program_->one->on_cuda() ? "cuda" : "cpu";
        report("playing preset " + program_->preset.name + " (" + program_->preset.path + ") at " +
               std::to_string(program_->samplerate) + " Hz, ONNX Runtime " + rt->version + " on " + device);
        ready_.store(true);
        return true;
    } catch (const std::exception& e) {
        std::string keep = program_ ? ", keeping " + program_->preset.name : ", silent";
        report("cannot load preset " + where + ": " + e.what() + keep);
        if (program_) {  // the project saves what plays
            std::lock_guard<std::mutex> lock(info_mutex_);
            info_path_ = program_->preset.path;
            info_name_ = program_->preset.name;
        }
        return false;
    }
}

bool Engine::decode_step(bool all) {
    if (!program_ || !latest_) return false;
    LatentState state = snapshot_.latent_state();
    std::vector<int> stale;
    for (int c = 0; c < program_->n; ++c)
        if (latest_->versions[c] != state.version) stale.push_back(c);
    if (stale.empty()) return false;
    std::vector<int> classes;
    if (all) {
        // offline: the whole bank in one batch call, as `vae-synth render` rebuilds it
        for (int c = 0; c < program_->n; ++c) classes.push_back(c);
    } else {
        // the class just played first, but not twice in a row while others are stale
        int first = priority_class_.load();
        bool first_stale = std::find(stale.begin(), stale.end(), first) != stale.end();
        int pick = -1;
        if (first_stale && (first != last_class_ || stale.size() == 1)) {
            pick = first;
        } else {
            for (int c : stale)
                if (c != first && (pick < 0 || latest_->versions[c] < latest_->versions[pick])) pick = c;
        }
        classes.push_back(pick);
    }
    std::vector<Sound*> sounds = decode_sounds(*program_, state, classes);
    Bank* bank = clone_bank(latest_);
    for (size_t i = 0; i < classes.size(); ++i) {
        int c = classes[i];
        if (bank->sounds[c]->refs.fetch_sub(1) == 1) delete bank->sounds[c];
        bank->sounds[c] = sounds[i];
        bank->versions[c] = state.version;
    }
    last_class_ = classes.back();
    publish(bank);
    return true;
}

void Engine::worker_main() {
    last_work_ = now_s();
    while (!stopping_.load()) {
        sem_wait_for(&wake_, KEEPWARM_S);
        if (stopping_.load()) break;
        reap();
        uint64_t serial = request_serial_.load();
        if (serial != loaded_serial_) {
            // the requests since the last load: the project's preset (main thread), a preset
            // number or program change (audio thread; the newest of these wins), a new rate
            Request main;
            {
                std::lock_guard<std::mutex> lock(request_mutex_);
                main = request_;
            }
            const uint64_t done = loaded_serial_.load();
            int number = number_request_.exchange(-1);
            int program = program_request_.exchange(-1);
            bool new_rate = rate_request_.exchange(0) > 0;
            Request req;
            if (main.serial > done) req = main;
            // the newer of a preset number and a program change: both count as `vae-synth presets`
            int chosen = number >= 0 ? number : program;
            if (chosen >= 0) {
                auto entries = installed_programs();
                if (chosen < int(entries.size())) {
                    req.path = entries[chosen].path;
                    req.name = entries[chosen].name;
                } else {
                    report("no preset number " + std::to_string(chosen) + " (numbers 0 to " +
                           std::to_string(int(entries.size()) - 1) + "; `vae-synth presets` lists them)");
                }
            }
            if (new_rate && req.path.empty() && req.name.empty()) {
                if (program_) {  // the same preset at the new rate
                    req.path = program_->preset.path;
                    req.name = program_->preset.name;
                } else {         // nothing plays yet: what the project asked for, at this rate
                    req.path = main.path;
                    req.name = main.name;
                }
            }
            req.samplerate = target_rate_.load();
            if (!req.path.empty() || !req.name.empty()) load(req);
            loaded_serial_.store(serial);
            sem_post(&published_);
        }
        try {
            bool worked = false;
            while (!stopping_.load() && request_serial_.load() == loaded_serial_.load()) {
                reap();
                if (!decode_step(offline_.load())) break;
                worked = true;
            }
            if (worked) last_work_ = now_s();
            if (request_serial_.load() == loaded_serial_.load()) idle_.store(true);
            if (!worked && program_ && !offline_.load() && now_s() - last_work_ > KEEPWARM_S) {
                std::vector<float> scratch;
                int64_t len = 0;
                program_->one->run(program_->latent->centroid(0), 1, program_->d, scratch, len);
                last_work_ = now_s();
            }
        } catch (const std::exception& e) {
            report(std::string("decode failed: ") + e.what());  // the last good bank keeps playing
            sem_wait_for(&wake_, 0.1);
        }
        reap();
    }
}

// -- the audio thread ----------------------------------------------------------------------

void Engine::drain_released() {
    void* owners[64];
    int n;
    while ((n = vs_mixer_released(mixer_, owners, 64)) > 0)
        for (int i = 0; i < n; ++i) {
            auto* s = static_cast<Sound*>(owners[i]);
            if (s->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) give_back(s, false);
        }
}

void Engine::adopt_newest() {
    Bank* b = mailbox_.exchange(nullptr, std::memory_order_acq_rel);
    if (!b) return;
    Bank* old = current_;
    current_ = b;
    if (b->program->samplerate != samplerate_) {  // decoded for another rate: not playable here
        current_ = old;
        give_back(b, true);
        return;
    }
    if (offline_.load() && old && old->program == b->program) {
        // offline, a bank of the same preset is taken only once it is current: one decoded at
        // an intermediate controller state would make the sustained crossfades timing-dependent
        uint64_t version = snapshot_.version();
        bool stale = false;
        for (uint64_t v : b->versions) stale = stale || v != version;
        if (stale) {
            current_ = old;
            Bank* expected = nullptr;
            if (!mailbox_.compare_exchange_strong(expected, b)) give_back(b, true);  // a newer one came
            return;
        }
    }
    if (!old || old->program != b->program) {
        vs_mixer_all_off(mixer_);  // the old preset's voices fade out here
    } else if (b->program->sustain) {
        int n = std::min(b->program->n, int(loops_.size()));
        for (int c = 0; c < n; ++c) {
            Sound* s = b->sounds[c];
            loops_[c] = vs_buffer{s->data.data(), int64_t(s->data.size()), s};
        }
        for (int c = 0; c < n; ++c) taken_[c] = 0;
        vs_mixer_swap_loops(mixer_, loops_.data(), n, taken_.data());
        // one reference for each voice that now reads the new loop (the bank still holds one)
        for (int c = 0; c < n; ++c)
            if (taken_[c]) b->sounds[c]->refs.fetch_add(taken_[c], std::memory_order_relaxed);
    }
    if (old) give_back(old, true);
}

void Engine::wait_for_decode() {
    double deadline = now_s() + 60.0;
    for (;;) {
        adopt_newest();
        bool need = request_serial_.load() != loaded_serial_.load();  // a preset is loading
        if (!need && current_) {
            uint64_t version = snapshot_.version();
            bool stale = false;
            for (uint64_t v : current_->versions) stale = stale || v != version;
            vs_mixer_stats st;
            vs_mixer_get_stats(mixer_, &st);
            bool sustaining = current_->program->sustain && st.active > 0;
            need = stale && (pending_count_ > 0 || sustaining);
            // the worker may still be publishing what it decoded: wait for the newest bank
        }
        if (!need || now_s() > deadline) return;
        stats.waits.fetch_add(1, std::memory_order_relaxed);
        sem_post(&wake_);
        sem_wait_for(&published_, 0.02);
    }
}

uint64_t Engine::bank_version() const {
    if (!current_) return 0;
    uint64_t v = UINT64_MAX;
    for (uint64_t x : current_->versions) v = std::min(v, x);
    return v;
}

void Engine::note_on(int note, int velocity) {
    if (!current_) {
        stats.dropped_notes.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    Program* p = current_->program;
    int c = p->note_class[note & 127];
    if (c < 0) {
        stats.unmapped.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    double decay = snapshot_.get(param_decay_);
    const ParamSpec& spec = PARAMS[param_decay_];
    double stop_at = spec.is_off(decay) ? std::numeric_limits<double>::infinity()
                                        : double(p->frame_frames) * spec.value(decay);
    Sound* s = current_->sounds[c];
    s->refs.fetch_add(1, std::memory_order_relaxed);
    vs_buffer buf{s->data.data(), int64_t(s->data.size()), s};
    vs_mixer_note_on(mixer_, note, c, buf, velocity / 127.0, p->class_pan[c], p->note_rate[note & 127],
                     p->class_group[c], p->sustain, p->sustain ? p->loop_start : 0, p->sustain ? p->loop_end : 0,
                     stop_at);
    priority_class_.store(c, std::memory_order_relaxed);
    stats.notes.fetch_add(1, std::memory_order_relaxed);
}

void Engine::handle(const MidiMessage& m) {
    if (m.size == 0) return;
    uint8_t status = m.data[0];
    if (status >= 0xF0 || status < 0x80) return;  // system messages; hosts send whole messages
    uint8_t kind = status & 0xF0;
    int d1 = m.size > 1 ? m.data[1] & 0x7F : 0, d2 = m.size > 2 ? m.data[2] & 0x7F : 0;
    auto push = [&](int k, int a, int b) {
        if (pending_count_ < PENDING_CAPACITY) pending_[pending_count_++] = Pending{k, a, b};
        else stats.dropped_notes.fetch_add(1, std::memory_order_relaxed);
    };
    if (kind == 0x90 && d2 > 0) {
        push(EV_NOTE_ON, d1, d2);
    } else if (kind == 0x80 || kind == 0x90) {
        push(EV_NOTE_OFF, d1, 0);
    } else if (kind == 0xB0) {
        if (d1 == 120 || d1 == 123) {
            push(EV_PANIC, d1, 0);
        } else if (current_) {
            int param = current_->program->cc_param[d1];
            if (param >= 0) set_param(param, d2 / 127.0);
        }
    } else if (kind == 0xE0) {
        if (param_bend_ >= 0) set_param(param_bend_, double((d2 << 7) | d1) / 16383.0);
    } else if (kind == 0xC0) {
        program_request_.store(d1);
        request_serial_.fetch_add(1);
        sem_post(&wake_);
        if (offline_.load()) wait_for_decode();  // as `vae-synth render`: the switch happens here
    }
}

void Engine::block(float* left, float* right, int n) {
    if (offline_.load()) wait_for_decode();
    adopt_newest();
    for (int i = 0; i < pending_count_; ++i) {
        const Pending& e = pending_[i];
        if (e.kind == EV_NOTE_ON) note_on(e.a, e.b);
        else if (e.kind == EV_NOTE_OFF) vs_mixer_note_off(mixer_, e.a);
        else vs_mixer_all_off(mixer_);
    }
    pending_count_ = 0;
    double* l = mix_l_.data();
    double* r = mix_r_.data();
    std::memset(l, 0, sizeof(double) * n);
    std::memset(r, 0, sizeof(double) * n);
    double semitones = 0.0;
    if (param_pitch_ >= 0) semitones += PARAMS[param_pitch_].value(snapshot_.get(param_pitch_));
    if (param_bend_ >= 0) semitones += PARAMS[param_bend_].value(snapshot_.get(param_bend_));
    double rate_scale = semitones == 0.0 ? 1.0 : std::pow(2.0, semitones / 12.0);
    vs_mixer_mix(mixer_, l, r, n, rate_scale);
    double gain = param_volume_ >= 0 ? PARAMS[param_volume_].value(snapshot_.get(param_volume_)) : 1.0;
    for (int k = 0; k < n; ++k) {
        l[k] *= gain;
        r[k] *= gain;
    }
    vs_output_process(output_, l, r, n);
    for (int k = 0; k < n; ++k) {
        left[k] = float(l[k]);
        right[k] = float(r[k]);
    }
    drain_released();
    stats.blocks.fetch_add(1, std::memory_order_relaxed);
}

void Engine::process(float* left, float* right, uint32_t frames, const MidiMessage* events, uint32_t count) {
    uint32_t pos = 0, e = 0;
    if (offline_.load()) wait_for_decode();  // a preset still loading: its MIDI map is needed
    adopt_newest();
    while (pos < frames || e < count) {
        while (e < count && (events[e].frame <= pos || pos >= frames)) handle(events[e++]);
        if (pos >= frames) break;
        uint32_t next = e < count ? std::min(events[e].frame, frames) : frames;
        while (pos < next) {
            int n = int(std::min<uint32_t>(next - pos, MAX_FRAMES));
            block(left + pos, right + pos, n);
            pos += n;
        }
    }
    restoring_.store(false);
}

}  // namespace vs
