/* The player's audio thread in C: what `vae-synth play` runs in PortAudio's callback, and what
 * `vae-synth render` calls block by block, so that live and offline mix through the same code.
 *
 * Python decides what plays; this library only carries it out. Python resolves every note (which
 * decoded buffer, gain, pan, playback rate, choke group, where the decay fade starts) and pushes
 * it, with note-offs, panics and re-decoded loops, onto a lock-free single-producer /
 * single-consumer event ring (vs_player_push; Python's producers serialise among themselves). It
 * writes the block-level controls it has tapered (master gain, playback-rate scale) with
 * vs_player_set_block_controls. The audio side (vs_player_stream_callback, a PortAudio
 * PaStreamCallback, or vs_player_process) drains the ring, mixes through the mixer of
 * vae_synth_mixer.h, applies the gain, runs the output stage and writes float32 frames.
 *
 * Buffers are not copied. Each buffer that Python sends comes with a token (0 <= token < tokens)
 * that stands for one reference Python holds to it; the audio side counts its own uses of the
 * token (a voice, the loop table, voices that crossfaded to a loop) and, when it lets go of the
 * last one, hands the token back through a second ring (vs_player_released) that a Python thread
 * drains, so that buffers are freed off the audio thread. Python must not send a token again
 * before it came back.
 *
 * Real-time rules: after vs_player_new nothing on the audio side allocates, locks, does I/O or
 * calls Python. The optional cycle clock (vs_player_set_cycle_clock) is for measurements.
 */
#ifndef VAE_SYNTH_PLAYER_H
#define VAE_SYNTH_PLAYER_H

#include <stdint.h>

#include "vae_synth_mixer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped whenever a struct or a function below or in vae_synth_jack_midi.h (the same library)
 * changes: Python refuses a library of another. 2: the JACK MIDI input. */
#define VS_PLAYER_ABI 2

typedef struct vs_player vs_player;

enum {
    VS_EV_NOTE_ON = 1,     /* note, cls, data/length/token, gain, pan, rate, group, sustained,
                              loop_start/loop_end, stop_at: as vs_mixer_note_on */
    VS_EV_NOTE_OFF = 2,    /* note: its sustained voices fade out */
    VS_EV_ALL_OFF = 3,     /* every voice fades out (panic, program change) */
    VS_EV_LOOP = 4,        /* cls, data/length/token: the loop table's buffer for class cls */
    VS_EV_LOOPS_SWAP = 5,  /* cls = number of classes: sustained voices crossfade to the table's
                              loops (vs_mixer_swap_loops) */
    VS_EV_LOOPS_CLEAR = 6  /* the loop table lets go of every buffer */
};

typedef struct {
    int32_t kind;
    int32_t note;
    int32_t cls;
    int32_t group;      /* choke group, -1 none */
    int32_t sustained;
    int32_t token;      /* of data: handed back once the audio side no longer reads it */
    const float* data;  /* mono float32 at the output rate */
    int64_t length;
    int64_t loop_start;
    int64_t loop_end;
    double gain;        /* linear */
    double pan;         /* -1..1, constant power */
    double rate;        /* playback speed (the pad's tuning) */
    double stop_at;     /* position where the decay fade starts (inf: none) */
} vs_event;

typedef struct {
    int64_t callbacks;        /* stream callbacks */
    int64_t underflows;       /* callbacks whose status had PortAudio's output-underflow flag */
    int64_t blocks;           /* mixed blocks (a callback longer than max_frames is split) */
    int64_t frames;
    int64_t events;           /* events taken from the ring */
    int64_t callback_ns;      /* total time spent in stream callbacks */
    int64_t callback_max_ns;  /* the longest one */
    int64_t tokens_held;      /* tokens the audio side holds now */
    int64_t released_lost;    /* tokens the release ring could not take (never: it has a slot
                                 for every token) */
    int64_t timings;          /* entries written to the timing ring so far */
    vs_mixer_stats mixer;
} vs_player_stats;

/* voices, samplerate, max_frames, fade_slots: as vs_mixer_new; tokens: how many buffer tokens
 * Python may have out at once; events: ring capacity; classes: the loop table's size;
 * timings: entries of the callback timing ring (0: none). NULL on bad arguments. */
VS_API vs_player* vs_player_new(int voices, int samplerate, int max_frames, int fade_slots,
                                int tokens, int events, int classes, int timings);
VS_API void vs_player_free(vs_player* p);
VS_API int vs_player_abi(void);

/* Producer side (one thread at a time). Returns 1 when queued, 0 when the ring is full (the
 * event is dropped: for a buffer event the token stays Python's). */
VS_API int vs_player_push(vs_player* p, const vs_event* event);
VS_API int vs_player_pending(const vs_player* p); /* events queued, not yet taken */
/* Master gain (linear) and playback-rate scale for the blocks that follow. */
VS_API void vs_player_set_block_controls(vs_player* p, double gain, double rate_scale);
/* Channels of the stream the callback writes (1: the mono mix (l + r) / 2; more: l, r, zeros). */
VS_API void vs_player_set_channels(vs_player* p, int channels);

/* Audio side: take the queued events, then mix `frames` interleaved frames into out. */
VS_API void vs_player_process(vs_player* p, float* out, int64_t frames, int channels);
/* A PortAudio PaStreamCallback for a float32, interleaved output stream whose userData is the
 * player; time_info is PortAudio's PaStreamCallbackTimeInfo (unused). Always paContinue (0). */
VS_API int vs_player_stream_callback(const void* input, void* output, unsigned long frames,
                                     const void* time_info, unsigned long status_flags,
                                     void* user_data);

/* Consumer of released tokens (one thread at a time): up to max into tokens; returns how many. */
VS_API int vs_player_released(vs_player* p, int32_t* tokens, int max);
VS_API void vs_player_get_stats(const vs_player* p, vs_player_stats* stats);

/* Measurements: clock(arg) gives the frames since the current audio cycle started (JACK's
 * jack_frames_since_cycle_start with a client of the same server); each callback then records
 * how far into its cycle it started. NULL clock: none. */
VS_API void vs_player_set_cycle_clock(vs_player* p, uint32_t (*clock)(void*), void* arg);
/* Copies the timing ring's entries [since, written) that it still holds (at most max): the
 * callback's start in its cycle (microseconds; -1 without a clock) and its duration
 * (microseconds). Returns the index to pass as `since` next time; *first the first copied. */
VS_API int64_t vs_player_timings(const vs_player* p, int64_t since, float* start_us,
                                 float* duration_us, int max, int64_t* first);

#ifdef __cplusplus
}
#endif

#endif
