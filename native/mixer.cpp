// synth/voices.py and synth/output.py in C++, operation for operation (float32 buffers read into
// float64, the same fades, the same limiter and soft clip), behind the C ABI of vae_synth_mixer.h.
#include <cmath>
#include <cstring>
#include <limits>
#include <new>
#include <vector>

#include "vae_synth_mixer.h"

namespace {

const double FADE_MS = 3.0;    // steal / choke / release fade
const double XFADE_MS = 20.0;  // sustained voice: crossfade to a re-decoded loop
const int RELEASED_CAPACITY = 4096;

}  // namespace

struct vs_mixer {
    int n, total, max_frames;
    int fade_len, xfade_len;
    std::vector<char> active, sustained, held;
    std::vector<int64_t> cls, note, group, loop_start, loop_end, start_order, xfade_left;
    std::vector<double> pos, rate, gain_l, gain_r, env, env_step, stop_at;
    std::vector<vs_buffer> bufs, prev_bufs;
    int64_t counter = 0;
    std::vector<double> ramp, p, fl, a, b, s, e;
    std::vector<int64_t> idx;
    std::vector<void*> released;
    int64_t released_read = 0, released_write = 0;
    vs_mixer_stats stats{};

    vs_mixer(int voices, int samplerate, int frames, int fade_slots)
        : n(voices), total(voices + fade_slots), max_frames(frames) {
        fade_len = int(FADE_MS * 1e-3 * samplerate);
        if (fade_len < 1) fade_len = 1;
        xfade_len = int(XFADE_MS * 1e-3 * samplerate);
        if (xfade_len < 1) xfade_len = 1;
        active.assign(total, 0);
        sustained.assign(total, 0);
        held.assign(total, 0);
        cls.assign(total, -1);
        note.assign(total, -1);
        group.assign(total, -1);
        loop_start.assign(total, 0);
        loop_end.assign(total, 0);
        start_order.assign(total, 0);
        xfade_left.assign(total, 0);
        pos.assign(total, 0.0);
        rate.assign(total, 1.0);
        gain_l.assign(total, 0.0);
        gain_r.assign(total, 0.0);
        env.assign(total, 1.0);
        env_step.assign(total, 0.0);
        stop_at.assign(total, 0.0);
        bufs.assign(total, vs_buffer{nullptr, 0, nullptr});
        prev_bufs.assign(total, vs_buffer{nullptr, 0, nullptr});
        ramp.resize(frames);
        for (int i = 0; i < frames; ++i) ramp[i] = double(i);
        p.assign(frames, 0.0);
        fl.assign(frames, 0.0);
        a.assign(frames, 0.0);
        b.assign(frames, 0.0);
        s.assign(frames, 0.0);
        e.assign(frames, 0.0);
        idx.assign(frames, 0);
        released.assign(RELEASED_CAPACITY, nullptr);
    }

    void release(vs_buffer& buf) {
        if (buf.data && buf.owner) {
            if (released_write - released_read < RELEASED_CAPACITY) {
                released[released_write % RELEASED_CAPACITY] = buf.owner;
                ++released_write;
            } else {
                ++stats.released_lost;  // never freed here: a leak, counted
            }
        }
        buf = vs_buffer{nullptr, 0, nullptr};
    }
    void set_buf(int v, vs_buffer buf) {
        release(bufs[v]);
        bufs[v] = buf;
    }
    void set_prev(int v, vs_buffer buf) {
        release(prev_bufs[v]);
        prev_bufs[v] = buf;
    }

    // move voice v to a fade slot (cutting the oldest fading voice when none is free)
    void fade_out(int v, int length) {
        int free = -1;
        for (int f = n; f < total; ++f)
            if (!active[f]) {
                free = f;
                break;
            }
        if (free < 0) {
            if (total == n) {  // no fade slots: fade in place
                free = v;
            } else {
                free = n;
                for (int f = n + 1; f < total; ++f)
                    if (start_order[f] < start_order[free]) free = f;
            }
        }
        if (free != v) {
            cls[free] = cls[v]; note[free] = note[v]; group[free] = group[v]; pos[free] = pos[v];
            rate[free] = rate[v]; gain_l[free] = gain_l[v]; gain_r[free] = gain_r[v]; env[free] = env[v];
            stop_at[free] = stop_at[v]; sustained[free] = sustained[v]; loop_start[free] = loop_start[v];
            loop_end[free] = loop_end[v]; start_order[free] = start_order[v]; xfade_left[free] = xfade_left[v];
            set_buf(free, bufs[v]);
            set_prev(free, prev_bufs[v]);
            bufs[v] = vs_buffer{nullptr, 0, nullptr};  // moved to the fade slot, not released
            prev_bufs[v] = vs_buffer{nullptr, 0, nullptr};
        }
        held[free] = 0;
        double level = env[v] > 1e-9 ? env[v] : 1e-9;
        env_step[free] = level / (length > 1 ? length : 1);
        active[free] = 1;
        if (free != v) active[v] = 0;
    }

    int note_on(int nt, int c, vs_buffer buf, double gain, double pan, double r, int grp, bool sus,
                int64_t ls, int64_t le, double stop) {
        if (grp >= 0)
            for (int v = 0; v < n; ++v)
                if (active[v] && group[v] == grp) {
                    fade_out(v, fade_len);
                    ++stats.choked;
                }
        int voice = -1;
        for (int v = 0; v < n; ++v)
            if (!active[v]) {
                voice = v;
                break;
            }
        if (voice < 0) {  // steal the oldest voice
            voice = 0;
            for (int v = 1; v < n; ++v)
                if (start_order[v] < start_order[voice]) voice = v;
            fade_out(voice, fade_len);
            ++stats.stolen;
        }
        double clamped = pan < -1.0 ? -1.0 : (pan > 1.0 ? 1.0 : pan);
        double angle = (clamped + 1.0) * M_PI / 4.0;
        ++counter;
        cls[voice] = c; note[voice] = nt; group[voice] = grp; pos[voice] = 0.0; rate[voice] = r;
        gain_l[voice] = gain * std::cos(angle);
        gain_r[voice] = gain * std::sin(angle);
        env[voice] = 1.0; env_step[voice] = 0.0; stop_at[voice] = stop;
        sustained[voice] = sus; held[voice] = sus;
        loop_start[voice] = ls; loop_end[voice] = le;
        start_order[voice] = counter;
        set_buf(voice, buf);
        set_prev(voice, vs_buffer{nullptr, 0, nullptr});
        xfade_left[voice] = 0;
        active[voice] = 1;
        ++stats.started;
        return voice;
    }

    // out[:m] = buf at positions pos + rate * k (linear interpolation, numpy's arithmetic)
    void read(const vs_buffer& buf, double position, double r, int m, double* out) {
        const float* data = buf.data;
        const int64_t last = buf.length - 1;
        if (r == 1.0 && position == double(int64_t(position))) {
            int64_t start = int64_t(position);
            for (int k = 0; k < m; ++k) {
                int64_t i = start + k;  // numpy slicing stops at the end of the buffer
                out[k] = i <= last ? double(data[i]) : 0.0;
            }
            return;
        }
        for (int k = 0; k < m; ++k) {
            double q = ramp[k] * r;
            q += position;
            double f = std::floor(q);
            int64_t i = int64_t(f);
            int64_t i0 = i < 0 ? 0 : (i > last ? last : i);
            int64_t i1 = i + 1 < 0 ? 0 : (i + 1 > last ? last : i + 1);
            float va = data[i0];
            float vb = data[i1];
            double frac = q - f;
            float diff = vb - va;
            double scaled = double(diff) * frac;
            out[k] = scaled + double(va);
        }
    }

    void mix(double* out_l, double* out_r, int n_frames, double rate_scale) {
        for (int v = 0; v < total; ++v) {
            if (!active[v]) continue;
            const vs_buffer& buf = bufs[v];
            double r = rate[v] * rate_scale;
            double position = pos[v];
            int m;
            if (sustained[v]) {
                m = n_frames;
            } else {
                double remaining = (double(buf.length - 1) - position) / r;
                if (remaining >= 0) {
                    double frames_left = double(int64_t(remaining)) + 1;
                    m = frames_left < n_frames ? int(frames_left) : n_frames;
                } else {
                    m = 0;
                }
                if (m <= 0) {
                    active[v] = 0;
                    set_buf(v, vs_buffer{nullptr, 0, nullptr});
                    continue;
                }
            }
            read(buf, position, r, m, s.data());
            if (xfade_left[v] > 0 && prev_bufs[v].data) {
                // sustained: fade from the previous loop to the new one
                read(prev_bufs[v], position, r, m, b.data());
                for (int k = 0; k < m; ++k) {
                    double w = ramp[k] * (-1.0 / xfade_len);
                    w += double(xfade_left[v]) / xfade_len;
                    w = w < 0.0 ? 0.0 : (w > 1.0 ? 1.0 : w);
                    double d = b[k] - s[k];
                    d = d * w;
                    s[k] += d;
                }
                xfade_left[v] = xfade_left[v] - m > 0 ? xfade_left[v] - m : 0;
                if (xfade_left[v] == 0) set_prev(v, vs_buffer{nullptr, 0, nullptr});
            }
            if (env_step[v] == 0.0 && position >= stop_at[v]) env_step[v] = 1.0 / fade_len / 4.0;
            if (env_step[v] > 0.0) {
                double step = -env_step[v];
                for (int k = 0; k < m; ++k) {
                    double g = ramp[k] * step;
                    g += env[v];
                    if (g < 0.0) g = 0.0;
                    s[k] *= g;
                }
                env[v] = env[v] - env_step[v] * m;
                if (env[v] <= 0.0) active[v] = 0;
            }
            bool finite = true;
            for (int k = 0; k < m; ++k)
                if (!std::isfinite(s[k])) {
                    finite = false;
                    break;
                }
            if (!finite) {  // NaN/inf from the model: this voice goes silent, the others play on
                active[v] = 0;
                ++stats.silenced_nonfinite;
                set_buf(v, vs_buffer{nullptr, 0, nullptr});
                continue;
            }
            double gl = gain_l[v], gr = gain_r[v];
            for (int k = 0; k < m; ++k) {
                double left = s[k] * gl;
                out_l[k] += left;
            }
            for (int k = 0; k < m; ++k) {
                double right = s[k] * gr;
                out_r[k] += right;
            }
            position += r * m;
            if (sustained[v] && position >= double(loop_end[v])) {
                double start = double(loop_start[v]), end = double(loop_end[v]);
                position = start + std::fmod(position - start, end - start);
            } else if (!sustained[v] && position > double(buf.length - 1)) {
                active[v] = 0;  // the one-shot has ended
            }
            pos[v] = position;
            if (!active[v]) {
                set_buf(v, vs_buffer{nullptr, 0, nullptr});
                set_prev(v, vs_buffer{nullptr, 0, nullptr});
            }
        }
    }
};

namespace {

const double CEILING_DB = -1.0;
const int CHUNK = 256;  // the closed-form DC blocker runs on chunks to stay well conditioned

}  // namespace

struct vs_output {
    double r, release, gain = 1.0, ceiling, knee, span;
    double x_prev[2] = {0, 0}, y_prev[2] = {0, 0};
    std::vector<double> rpow, rinv, relpow, d, g, tmp[2];
    int max_frames;

    vs_output(int samplerate, int frames) : max_frames(frames) {
        const double dc_cutoff_hz = 5.0, release_ms = 80.0, knee_fraction = 0.6;
        ceiling = std::pow(10.0, CEILING_DB / 20.0);
        r = 1.0 - 2.0 * M_PI * dc_cutoff_hz / samplerate;
        rpow.resize(CHUNK);
        rinv.resize(CHUNK);
        for (int i = 0; i < CHUNK; ++i) {
            rpow[i] = std::pow(r, i + 1);
            rinv[i] = std::pow(r, -i);
        }
        d.assign(CHUNK, 0.0);
        release = std::exp(-1.0 / (release_ms * 1e-3 * samplerate));
        relpow.resize(frames);
        for (int i = 0; i < frames; ++i) relpow[i] = std::pow(release, i + 1);
        g.assign(frames, 1.0);
        tmp[0].assign(frames, 0.0);
        tmp[1].assign(frames, 0.0);
        knee = knee_fraction * ceiling;
        span = ceiling - knee;
    }

    void reset() {
        x_prev[0] = x_prev[1] = y_prev[0] = y_prev[1] = 0.0;
        gain = 1.0;
    }

    // y[n] = R^(n+1) y[-1] + sum_k R^(n-k) d[k], d[k] = x[k] - x[k-1], as synth/output.py
    void dc_block(double* x, int ch, int n) {
        d[0] = x[0] - x_prev[ch];
        for (int k = 1; k < n; ++k) d[k] = x[k] - x[k - 1];
        x_prev[ch] = x[n - 1];
        for (int k = 0; k < n; ++k) d[k] = d[k] * rinv[k];
        for (int k = 1; k < n; ++k) d[k] = d[k - 1] + d[k];
        for (int k = 0; k < n; ++k) d[k] = d[k] / rinv[k];
        for (int k = 0; k < n; ++k) {
            double base = rpow[k] * y_prev[ch];
            x[k] = base + d[k];
        }
        y_prev[ch] = x[n - 1];
    }

    void process(double* left, double* right, int frames) {
        double* ch[2] = {left, right};
        for (int c = 0; c < 2; ++c)
            for (int k = 0; k < frames; ++k)
                if (!std::isfinite(ch[c][k])) {  // should not happen: voices are screened
                    std::memset(left, 0, sizeof(double) * frames);
                    std::memset(right, 0, sizeof(double) * frames);
                    reset();
                    return;
                }
        for (int start = 0; start < frames; start += CHUNK) {
            int n = frames - start < CHUNK ? frames - start : CHUNK;
            dc_block(left + start, 0, n);
            dc_block(right + start, 1, n);
        }
        // peak limiter: instant attack, exponential release g[n] = target + (g0 - target) rel^n
        double peak = 0.0;
        for (int c = 0; c < 2; ++c)
            for (int k = 0; k < frames; ++k) {
                double a = std::fabs(ch[c][k]);
                if (a > peak) peak = a;
            }
        double target = peak > ceiling ? ceiling / peak : 1.0;
        if (target <= gain) {
            gain = target;
            for (int c = 0; c < 2; ++c)
                for (int k = 0; k < frames; ++k) ch[c][k] *= target;
        } else {
            double from = gain - target;
            for (int k = 0; k < frames; ++k) {
                double v = relpow[k] * from;
                g[k] = v + target;
            }
            gain = g[frames - 1];
            for (int c = 0; c < 2; ++c)
                for (int k = 0; k < frames; ++k) ch[c][k] *= g[k];
        }
        // soft clip beyond the knee toward the ceiling: o / (1 + o), then the brick wall
        double top = 0.0;
        for (int c = 0; c < 2; ++c)
            for (int k = 0; k < frames; ++k) {
                double a = std::fabs(ch[c][k]);
                if (a > top) top = a;
            }
        if (top > knee) {
            for (int c = 0; c < 2; ++c)
                for (int k = 0; k < frames; ++k) {
                    double x = ch[c][k];
                    double a = std::fabs(x);
                    if (a > knee) {
                        double over = a - knee;
                        over = over > 0.0 ? over : 0.0;
                        over = over / span;
                        double den = over + 1.0;
                        over = over / den;
                        over = over * span;
                        over = over + knee;
                        ch[c][k] = std::copysign(over, x);
                    }
                }
        }
        for (int c = 0; c < 2; ++c)
            for (int k = 0; k < frames; ++k) {
                double x = ch[c][k];
                ch[c][k] = x < -ceiling ? -ceiling : (x > ceiling ? ceiling : x);
            }
    }
};

extern "C" {

vs_mixer* vs_mixer_new(int voices, int samplerate, int max_frames, int fade_slots) {
    if (voices < 1 || samplerate <= 0 || max_frames <= 0 || fade_slots < 0) return nullptr;
    return new (std::nothrow) vs_mixer(voices, samplerate, max_frames, fade_slots);
}

void vs_mixer_free(vs_mixer* m) { delete m; }

int vs_mixer_note_on(vs_mixer* m, int note, int cls, vs_buffer buf, double gain, double pan, double rate,
                     int group, int sustained, int64_t loop_start, int64_t loop_end, double stop_at) {
    return m->note_on(note, cls, buf, gain, pan, rate, group, sustained != 0, loop_start, loop_end, stop_at);
}

void vs_mixer_note_off(vs_mixer* m, int note) {
    for (int v = 0; v < m->n; ++v)
        if (m->active[v] && m->held[v] && m->note[v] == note) m->fade_out(v, 4 * m->fade_len);
}

void vs_mixer_all_off(vs_mixer* m) {
    for (int v = 0; v < m->n; ++v)
        if (m->active[v]) m->fade_out(v, m->fade_len);
}

void vs_mixer_clear(vs_mixer* m) {
    for (int v = 0; v < m->total; ++v) {
        m->active[v] = 0;
        m->set_buf(v, vs_buffer{nullptr, 0, nullptr});
        m->set_prev(v, vs_buffer{nullptr, 0, nullptr});
    }
}

void vs_mixer_swap_loops(vs_mixer* m, const vs_buffer* loops, int classes, int* taken) {
    for (int v = 0; v < m->n; ++v) {
        if (!m->active[v] || !m->sustained[v]) continue;
        int64_t c = m->cls[v];
        if (c < 0 || c >= classes || !loops[c].data) continue;
        if (m->bufs[v].data != loops[c].data) {
            m->set_prev(v, m->bufs[v]);  // the old loop moves to prev_bufs
            m->bufs[v] = loops[c];
            m->xfade_left[v] = m->xfade_len;
            if (taken) ++taken[c];
        }
    }
}

void vs_mixer_mix(vs_mixer* m, double* out_l, double* out_r, int n, double rate_scale) {
    if (n > m->max_frames) n = m->max_frames;
    m->mix(out_l, out_r, n, rate_scale);
}

int vs_mixer_released(vs_mixer* m, void** owners, int max) {
    int count = 0;
    while (m->released_read < m->released_write && count < max) {
        owners[count++] = m->released[m->released_read % RELEASED_CAPACITY];
        ++m->released_read;
    }
    return count;
}

void vs_mixer_get_stats(const vs_mixer* m, vs_mixer_stats* stats) {
    *stats = m->stats;
    int64_t active = 0;
    for (int v = 0; v < m->n; ++v) active += m->active[v] ? 1 : 0;
    stats->active = active;
}

vs_output* vs_output_new(int samplerate, int max_frames) {
    if (samplerate <= 0 || max_frames <= 0) return nullptr;
    return new (std::nothrow) vs_output(samplerate, max_frames);
}

void vs_output_free(vs_output* o) { delete o; }
void vs_output_reset(vs_output* o) { o->reset(); }

void vs_output_process(vs_output* o, double* left, double* right, int n) {
    if (n > o->max_frames) n = o->max_frames;
    if (n > 0) o->process(left, right, n);
}

}  // extern "C"
