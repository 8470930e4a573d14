// The player's audio side (vae_synth_player.h): an event ring from Python, the mixer, the block
// controls, the output stage, float32 out, buffer tokens handed back, statistics. It does what
// synth/engine.py's Engine._block does with the events Python resolved, operation for operation.
#include <atomic>
#include <cmath>
#include <cstring>
#include <ctime>
#include <new>
#include <vector>

#include "vae_synth_player.h"

namespace {

const unsigned long PA_OUTPUT_UNDERFLOW = 0x00000004;  // PortAudio's paOutputUnderflow
const int PA_CONTINUE = 0;

int64_t now_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);  // vDSO: no system call
    return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

void* owner_of(int32_t token) { return reinterpret_cast<void*>(intptr_t(token) + 1); }
int32_t token_of(void* owner) { return int32_t(reinterpret_cast<intptr_t>(owner) - 1); }

}  // namespace

struct vs_player {
    vs_mixer* mixer = nullptr;
    vs_output* output = nullptr;
    int samplerate, max_frames, tokens, classes;
    std::atomic<int> channels{2};
    // event ring: written by the producer, read by the audio side
    std::vector<vs_event> events;
    std::atomic<int64_t> ev_write{0}, ev_read{0};
    // block controls, written by Python between blocks
    std::atomic<double> gain{1.0}, rate_scale{1.0};
    // token references held by the audio side (audio side only) and the ring handing them back
    std::vector<int32_t> refs;
    std::vector<int32_t> released;
    std::atomic<int64_t> rel_write{0}, rel_read{0};
    // the loop table: one buffer per class, the loops sustained voices crossfade to
    std::vector<vs_buffer> loops;
    std::vector<int> taken;
    std::vector<double> mix_l, mix_r;
    // statistics (written by the audio side, read by Python)
    std::atomic<int64_t> callbacks{0}, underflows{0}, blocks{0}, frames{0}, events_taken{0},
        callback_ns{0}, callback_max_ns{0}, tokens_held{0}, released_lost{0};
    // the mixer's counters, copied after each callback or process call (read by Python)
    std::atomic<int64_t> mixer_stats[6] = {};
    std::atomic<uint32_t (*)(void*)> clock{nullptr};
    std::atomic<void*> clock_arg{nullptr};
    std::vector<float> timing_start, timing_duration;
    std::atomic<int64_t> timing_write{0};

    vs_player(int voices, int rate, int frames_max, int fade_slots, int n_tokens, int n_events,
              int n_classes, int n_timings)
        : samplerate(rate), max_frames(frames_max), tokens(n_tokens), classes(n_classes) {
        mixer = vs_mixer_new(voices, rate, frames_max, fade_slots);
        output = vs_output_new(rate, frames_max);
        events.resize(n_events);
        refs.assign(n_tokens, 0);
        released.assign(n_tokens, -1);
        loops.assign(n_classes, vs_buffer{nullptr, 0, nullptr});
        taken.assign(n_classes, 0);
        mix_l.assign(frames_max, 0.0);
        mix_r.assign(frames_max, 0.0);
        timing_start.assign(n_timings, 0.0f);
        timing_duration.assign(n_timings, 0.0f);
    }
    ~vs_player() {
        vs_mixer_free(mixer);
        vs_output_free(output);
    }

    // -- tokens (audio side) ----------------------------------------------------------------
    bool valid(int32_t token) const { return token >= 0 && token < tokens; }
    void take(int32_t token) {  // one more use of token's buffer here
        if (refs[token]++ == 0) tokens_held.fetch_add(1, std::memory_order_relaxed);
    }
    void let_go(void* owner) {
        int32_t token = token_of(owner);
        if (!valid(token) || refs[token] <= 0) return;
        if (--refs[token] > 0) return;
        tokens_held.fetch_sub(1, std::memory_order_relaxed);
        int64_t w = rel_write.load(std::memory_order_relaxed);
        if (w - rel_read.load(std::memory_order_acquire) >= tokens) {
            released_lost.fetch_add(1, std::memory_order_relaxed);  // cannot happen (see header)
            return;
        }
        released[w % tokens] = token;
        rel_write.store(w + 1, std::memory_order_release);
    }
    void drain_mixer() {
        void* owners[64];
        int n;
        while ((n = vs_mixer_released(mixer, owners, 64)) > 0)
            for (int i = 0; i < n; ++i) let_go(owners[i]);
    }
    void clear_loop(int c) {
        if (loops[c].owner) let_go(loops[c].owner);
        loops[c] = vs_buffer{nullptr, 0, nullptr};
    }

    // -- events (audio side) ----------------------------------------------------------------
    void apply(const vs_event& e) {
        switch (e.kind) {
            case VS_EV_NOTE_ON: {
                if (!valid(e.token) || !e.data || e.length < 1) return;
                take(e.token);
                vs_buffer buf{e.data, e.length, owner_of(e.token)};
                vs_mixer_note_on(mixer, e.note, e.cls, buf, e.gain, e.pan, e.rate, e.group,
                                 e.sustained, e.loop_start, e.loop_end, e.stop_at);
                break;
            }
            case VS_EV_NOTE_OFF:
                vs_mixer_note_off(mixer, e.note);
                break;
            case VS_EV_ALL_OFF:
                vs_mixer_all_off(mixer);
                break;
            case VS_EV_LOOP:
                if (e.cls < 0 || e.cls >= classes || !valid(e.token) || !e.data) return;
                take(e.token);  // before letting go of the old one: it may be the same buffer
                clear_loop(e.cls);
                loops[e.cls] = vs_buffer{e.data, e.length, owner_of(e.token)};
                break;
            case VS_EV_LOOPS_SWAP: {
                int n = e.cls < classes ? e.cls : classes;
                if (n <= 0) return;
                for (int c = 0; c < n; ++c) taken[c] = 0;
                vs_mixer_swap_loops(mixer, loops.data(), n, taken.data());
                // a reference for each voice that now reads a loop of the table
                for (int c = 0; c < n; ++c)
                    for (int k = 0; k < taken[c]; ++k) take(token_of(loops[c].owner));
                break;
            }
            case VS_EV_LOOPS_CLEAR:
                for (int c = 0; c < classes; ++c) clear_loop(c);
                break;
            default:
                break;
        }
        drain_mixer();
    }

    void take_events() {
        const int64_t r0 = ev_read.load(std::memory_order_relaxed);
        const int64_t w = ev_write.load(std::memory_order_acquire);
        const int64_t capacity = int64_t(events.size());
        for (int64_t r = r0; r < w; ++r) apply(events[r % capacity]);
        events_taken.fetch_add(w - r0, std::memory_order_relaxed);
        ev_read.store(w, std::memory_order_release);  // the slots may be filled again
    }

    // -- mixing (audio side): Engine._block after its events ----------------------------------
    void block(float* out, int n, int ch) {
        double* l = mix_l.data();
        double* r = mix_r.data();
        std::memset(l, 0, sizeof(double) * n);
        std::memset(r, 0, sizeof(double) * n);
        vs_mixer_mix(mixer, l, r, n, rate_scale.load(std::memory_order_relaxed));
        const double g = gain.load(std::memory_order_relaxed);
        for (int k = 0; k < n; ++k) l[k] *= g;
        for (int k = 0; k < n; ++k) r[k] *= g;
        vs_output_process(output, l, r, n);
        if (ch >= 2) {
            for (int k = 0; k < n; ++k) {
                float* frame = out + int64_t(k) * ch;
                frame[0] = float(l[k]);
                frame[1] = float(r[k]);
                for (int c = 2; c < ch; ++c) frame[c] = 0.0f;
            }
        } else {
            for (int k = 0; k < n; ++k) {
                double mono = l[k] + r[k];
                mono = mono * 0.5;
                out[k] = float(mono);
            }
        }
        drain_mixer();
        blocks.fetch_add(1, std::memory_order_relaxed);
        frames.fetch_add(n, std::memory_order_relaxed);
    }

    void process(float* out, int64_t total, int ch) {
        if (ch < 1) ch = 1;
        take_events();
        int64_t pos = 0;
        while (pos < total) {
            int n = total - pos < max_frames ? int(total - pos) : max_frames;
            block(out + pos * ch, n, ch);
            pos += n;
        }
        vs_mixer_stats st;
        vs_mixer_get_stats(mixer, &st);
        const int64_t values[6] = {st.started, st.stolen, st.choked, st.silenced_nonfinite,
                                   st.active, st.released_lost};
        for (int i = 0; i < 6; ++i) mixer_stats[i].store(values[i], std::memory_order_relaxed);
    }
};

extern "C" {

int vs_player_abi(void) { return VS_PLAYER_ABI; }

vs_player* vs_player_new(int voices, int samplerate, int max_frames, int fade_slots, int tokens,
                         int events, int classes, int timings) {
    if (voices < 1 || samplerate <= 0 || max_frames <= 0 || fade_slots < 0 || tokens < 1 ||
        events < 1 || classes < 1 || timings < 0)
        return nullptr;
    vs_player* p = new (std::nothrow) vs_player(voices, samplerate, max_frames, fade_slots, tokens,
                                                 events, classes, timings);
    if (p && (!p->mixer || !p->output)) {
        delete p;
        return nullptr;
    }
    return p;
}

void vs_player_free(vs_player* p) { delete p; }

int vs_player_push(vs_player* p, const vs_event* event) {
    const int64_t w = p->ev_write.load(std::memory_order_relaxed);
    const int64_t capacity = int64_t(p->events.size());
    if (w - p->ev_read.load(std::memory_order_acquire) >= capacity) return 0;
    p->events[w % capacity] = *event;
    p->ev_write.store(w + 1, std::memory_order_release);  // publish the filled slot
    return 1;
}

int vs_player_pending(const vs_player* p) {
    return int(p->ev_write.load(std::memory_order_acquire) -
               p->ev_read.load(std::memory_order_acquire));
}

void vs_player_set_block_controls(vs_player* p, double gain, double rate_scale) {
    p->gain.store(gain, std::memory_order_relaxed);
    p->rate_scale.store(rate_scale, std::memory_order_relaxed);
}

void vs_player_set_channels(vs_player* p, int channels) {
    p->channels.store(channels < 1 ? 1 : channels, std::memory_order_relaxed);
}

void vs_player_process(vs_player* p, float* out, int64_t frames, int channels) {
    p->process(out, frames, channels);
}

int vs_player_stream_callback(const void* input, void* output, unsigned long frames,
                              const void* time_info, unsigned long status_flags, void* user_data) {
    (void)input;
    (void)time_info;
    vs_player* p = static_cast<vs_player*>(user_data);
    const int64_t t0 = now_ns();
    uint32_t (*clock)(void*) = p->clock.load(std::memory_order_acquire);
    float start_us = -1.0f;
    if (clock) start_us = float(double(clock(p->clock_arg.load(std::memory_order_relaxed))) *
                                1e6 / p->samplerate);
    p->callbacks.fetch_add(1, std::memory_order_relaxed);
    if (status_flags & PA_OUTPUT_UNDERFLOW) p->underflows.fetch_add(1, std::memory_order_relaxed);
    p->process(static_cast<float*>(output), int64_t(frames),
               p->channels.load(std::memory_order_relaxed));
    const int64_t took = now_ns() - t0;
    p->callback_ns.fetch_add(took, std::memory_order_relaxed);
    if (took > p->callback_max_ns.load(std::memory_order_relaxed))
        p->callback_max_ns.store(took, std::memory_order_relaxed);
    const int64_t n = int64_t(p->timing_start.size());
    if (n > 0) {
        const int64_t i = p->timing_write.load(std::memory_order_relaxed);
        p->timing_start[i % n] = start_us;
        p->timing_duration[i % n] = float(double(took) * 1e-3);
        p->timing_write.store(i + 1, std::memory_order_release);
    }
    return PA_CONTINUE;
}

int vs_player_released(vs_player* p, int32_t* tokens, int max) {
    int count = 0;
    int64_t r = p->rel_read.load(std::memory_order_relaxed);
    const int64_t w = p->rel_write.load(std::memory_order_acquire);
    while (r < w && count < max) tokens[count++] = p->released[r++ % p->tokens];
    p->rel_read.store(r, std::memory_order_release);
    return count;
}

void vs_player_get_stats(const vs_player* p, vs_player_stats* s) {
    s->callbacks = p->callbacks.load(std::memory_order_relaxed);
    s->underflows = p->underflows.load(std::memory_order_relaxed);
    s->blocks = p->blocks.load(std::memory_order_relaxed);
    s->frames = p->frames.load(std::memory_order_relaxed);
    s->events = p->events_taken.load(std::memory_order_relaxed);
    s->callback_ns = p->callback_ns.load(std::memory_order_relaxed);
    s->callback_max_ns = p->callback_max_ns.load(std::memory_order_relaxed);
    s->tokens_held = p->tokens_held.load(std::memory_order_relaxed);
    s->released_lost = p->released_lost.load(std::memory_order_relaxed);
    s->timings = p->timing_write.load(std::memory_order_acquire);
    int64_t* mixer[6] = {&s->mixer.started, &s->mixer.stolen, &s->mixer.choked,
                         &s->mixer.silenced_nonfinite, &s->mixer.active, &s->mixer.released_lost};
    for (int i = 0; i < 6; ++i) *mixer[i] = p->mixer_stats[i].load(std::memory_order_relaxed);
}

void vs_player_set_cycle_clock(vs_player* p, uint32_t (*clock)(void*), void* arg) {
    p->clock_arg.store(arg, std::memory_order_relaxed);
    p->clock.store(clock, std::memory_order_release);
}

int64_t vs_player_timings(const vs_player* p, int64_t since, float* start_us, float* duration_us,
                          int max, int64_t* first) {
    const int64_t n = int64_t(p->timing_start.size());
    const int64_t w = p->timing_write.load(std::memory_order_acquire);
    int64_t from = since > w - n ? since : w - n;  // older entries were overwritten
    if (from < 0) from = 0;
    if (w - from > max) from = w - max;
    if (first) *first = from;
    for (int64_t i = from; i < w; ++i) {
        start_us[i - from] = p->timing_start[i % n];
        duration_us[i - from] = p->timing_duration[i % n];
    }
    return w;
}

}  // extern "C"
