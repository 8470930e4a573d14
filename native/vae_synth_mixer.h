/* The voice pool, mix and output stage of vae-synth as a small C library.
 *
 * One mixer for every front end: the DAW plugin links it; Python can load libvae_synth_mixer.so
 * with ctypes. It is synth/voices.py (one-shots, sustained loops with crossfades, choke groups,
 * stealing the oldest voice into fade slots) and synth/output.py (DC blocker, peak limiter at
 * -1 dBFS, soft clip) with the same arithmetic.
 *
 * Real-time rules: after vs_mixer_new / vs_output_new nothing here allocates, locks or does I/O.
 * Buffers are not copied: the caller keeps each buffer alive until the mixer hands its `owner`
 * back through vs_mixer_released (call it after every vs_mixer_mix and note call).
 */
#ifndef VAE_SYNTH_MIXER_H
#define VAE_SYNTH_MIXER_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define VS_API __declspec(dllexport)
#else
#define VS_API __attribute__((visibility("default")))
#endif

typedef struct vs_mixer vs_mixer;
typedef struct vs_output vs_output;

/* A mono buffer at the output rate: a one-shot [length], or a loop buffer whose region
 * [loop_start, loop_end) repeats, padded after loop_end (synth/bank.py loop_buffer). */
typedef struct {
    const float* data;
    int64_t length;
    void* owner; /* handed back by vs_mixer_released once the mixer no longer reads data */
} vs_buffer;

typedef struct {
    int64_t started, stolen, choked, silenced_nonfinite, active, released_lost;
} vs_mixer_stats;

/* voices: polyphony; fade_slots: extra slots where stolen/choked voices fade out (8 in the engine) */
VS_API vs_mixer* vs_mixer_new(int voices, int samplerate, int max_frames, int fade_slots);
VS_API void vs_mixer_free(vs_mixer* m);
/* Start a voice; returns its index. gain linear, pan in [-1, 1] (constant power), rate: playback
 * speed, group: choke group (-1 none), stop_at: position where the decay fade starts (inf: none). */
VS_API int vs_mixer_note_on(vs_mixer* m, int note, int cls, vs_buffer buf, double gain, double pan,
                            double rate, int group, int sustained, int64_t loop_start,
                            int64_t loop_end, double stop_at);
VS_API void vs_mixer_note_off(vs_mixer* m, int note); /* sustained voices of note fade out */
VS_API void vs_mixer_all_off(vs_mixer* m);            /* every voice fades out (panic) */
VS_API void vs_mixer_clear(vs_mixer* m);              /* every voice stops at once (activate) */
/* Re-decoded loops, one per class: sustained voices crossfade to theirs. The mixer then holds
 * loops[c] once for each voice that switched: taken[c] (zeroed by the caller) counts them. */
VS_API void vs_mixer_swap_loops(vs_mixer* m, const vs_buffer* loops, int classes, int* taken);
/* Add n frames (n <= max_frames) of every voice into out_l/out_r. */
VS_API void vs_mixer_mix(vs_mixer* m, double* out_l, double* out_r, int n, double rate_scale);
/* Owners of buffers let go of since the last call (at most max); returns how many. */
VS_API int vs_mixer_released(vs_mixer* m, void** owners, int max);
VS_API void vs_mixer_get_stats(const vs_mixer* m, vs_mixer_stats* stats);

VS_API vs_output* vs_output_new(int samplerate, int max_frames);
VS_API void vs_output_free(vs_output* o);
VS_API void vs_output_reset(vs_output* o);
/* In place on n frames of left/right, n <= max_frames: |value| <= 10^(-1/20) afterwards. */
VS_API void vs_output_process(vs_output* o, double* left, double* right, int n);

#ifdef __cplusplus
}
#endif

#endif
