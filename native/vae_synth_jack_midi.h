/* The player's JACK MIDI input in C: a JACK client with one MIDI input port whose process
 * callback copies channel messages onto a lock-free ring and wakes a Python reader thread.
 *
 * Why not RtMidi's JACK input: RtMidi 5.0 calls Python (through python-rtmidi's callback) inside
 * JACK's process thread, so the MIDI client is late whenever the GIL is busy, and it does not
 * check jack_midi_event_get's result, so a late read of a buffer the writer refills copies
 * garbage and the player dies of SIGSEGV (seen under a non-realtime jackd). Here JACK's thread
 * never runs Python, never allocates and never waits: each event is read with its result checked,
 * filtered (sysex, MIDI clock, MIDI time code and active sensing are ignored, as the rtmidi input
 * ignores them) and copied; a full ring drops the message and counts it. A Python thread blocks
 * in vs_midi_in_read (without the GIL, ctypes releases it) and hands each message to the router.
 *
 * libjack is opened with dlopen at vs_midi_in_open (the system's libjack.so.0, the one PortAudio
 * uses), so the library builds without JACK's headers and loads where JACK is not installed.
 */
#ifndef VAE_SYNTH_JACK_MIDI_H
#define VAE_SYNTH_JACK_MIDI_H

#include <stdint.h>

#include "vae_synth_mixer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vs_midi_in vs_midi_in;

/* One message as the reader gets it: up to 3 bytes of a channel or system message. */
typedef struct {
    uint32_t frame;      /* JACK frame time of the message (the cycle's first frame + offset) */
    uint8_t size;        /* 1..3 */
    uint8_t bytes[3];
} vs_midi_message;

typedef struct {
    int64_t received;    /* messages put on the ring */
    int64_t dropped;     /* messages lost to a full ring (the reader fell behind) */
    int64_t ignored;     /* sysex, clock, time code, active sensing */
    int64_t malformed;   /* empty, or longer than 3 bytes without being sysex */
    int64_t unreadable;  /* events jack_midi_event_get refused */
    int64_t cycles;      /* process callbacks run */
    int64_t server_gone; /* 1 once JACK told the client it was shut down */
} vs_midi_in_stats;

/* Opens client ``client_name`` (made unique by JACK when taken) with input ``port_name`` and a
 * ring of ``capacity`` messages (rounded up to a power of two), and activates it. Never starts a
 * server. NULL on failure, with the reason in ``error`` (``error_size`` bytes, NUL-terminated). */
VS_API vs_midi_in* vs_midi_in_open(const char* client_name, const char* port_name, int capacity,
                                   char* error, int error_size);
/* Closes the client (JACK stops calling it first) and frees everything. No reader may be inside
 * vs_midi_in_read: wake it with vs_midi_in_wake and let it return first. */
VS_API void vs_midi_in_close(vs_midi_in* in);
/* Copies up to ``max`` queued messages to ``out``; when none is queued, waits up to
 * ``timeout_ms`` for the next cycle that brings one (or for vs_midi_in_wake). Returns the count. */
VS_API int vs_midi_in_read(vs_midi_in* in, vs_midi_message* out, int max, int timeout_ms);
/* Ends a vs_midi_in_read that is waiting (any thread). */
VS_API void vs_midi_in_wake(vs_midi_in* in);
/* The full name of the input port ("vae-synth:midi_in"). */
VS_API const char* vs_midi_in_port_name(vs_midi_in* in);
/* The MIDI output ports of the graph other than this client's, '\n'-separated, into ``out``
 * (``size`` bytes, NUL-terminated, cut where it does not fit). Returns the length the full list
 * needs (without the NUL), or -1 when the server does not answer. */
VS_API int64_t vs_midi_in_sources(vs_midi_in* in, char* out, int64_t size);
/* Connects output port ``source`` to the input. 0 when connected (also when it already was),
 * else JACK's error code. */
VS_API int vs_midi_in_connect(vs_midi_in* in, const char* source);
VS_API void vs_midi_in_get_stats(vs_midi_in* in, vs_midi_in_stats* out);

#ifdef __cplusplus
}
#endif

#endif
