// The player's JACK MIDI input (vae_synth_jack_midi.h): JACK's process thread copies checked
// events onto a lock-free ring; a reader thread of the player takes them off.
#include <dlfcn.h>
#include <semaphore.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "vae_synth_jack_midi.h"

namespace {

// The few libjack entry points used, declared from JACK's stable C API (jack/jack.h,
// jack/midiport.h) and resolved with dlsym.
using jack_nframes_t = uint32_t;
struct jack_client_t;
struct jack_port_t;
struct jack_midi_event_t {
    jack_nframes_t time;
    size_t size;
    unsigned char* buffer;
};
const int JACK_NO_START_SERVER = 0x01;      // JackNoStartServer
const unsigned long JACK_PORT_IS_INPUT = 0x1, JACK_PORT_IS_OUTPUT = 0x2;
const char* const JACK_MIDI_TYPE = "8 bit raw midi";   // JACK_DEFAULT_MIDI_TYPE
const int JACK_SERVER_FAILED = 0x10;        // JackServerFailed

struct Jack {
    jack_client_t* (*client_open)(const char*, int, int*, ...);
    int (*client_close)(jack_client_t*);
    int (*set_process_callback)(jack_client_t*, int (*)(jack_nframes_t, void*), void*);
    void (*on_shutdown)(jack_client_t*, void (*)(void*), void*);
    jack_port_t* (*port_register)(jack_client_t*, const char*, const char*, unsigned long,
                                  unsigned long);
    int (*activate)(jack_client_t*);
    void* (*port_get_buffer)(jack_port_t*, jack_nframes_t);
    uint32_t (*midi_get_event_count)(void*);
    int (*midi_event_get)(jack_midi_event_t*, void*, uint32_t);
    const char** (*get_ports)(jack_client_t*, const char*, const char*, unsigned long);
    void (*free_)(void*);
    int (*connect)(jack_client_t*, const char*, const char*);
    const char* (*port_name)(const jack_port_t*);
    char* (*get_client_name)(jack_client_t*);
    jack_nframes_t (*last_frame_time)(const jack_client_t*);
};

template <typename F>
bool resolve(void* library, const char* name, F& target, std::string& missing) {
    target = reinterpret_cast<F>(dlsym(library, name));
    if (!target) missing = name;
    return target != nullptr;
}

// libjack, loaded once per process; nullptr with the reason in ``why`` when it cannot be.
const Jack* load_jack(std::string& why) {
    static std::mutex lock;
    static Jack jack;
    static bool tried = false, loaded = false;
    static std::string error;
    std::lock_guard<std::mutex> guard(lock);
    if (!tried) {
        tried = true;
        void* library = dlopen("libjack.so.0", RTLD_NOW | RTLD_LOCAL);
        if (!library) {
            const char* reason = dlerror();
            error = std::string("cannot load libjack.so.0 (") + (reason ? reason : "?") + ")";
        } else {
            std::string missing;
            loaded = resolve(library, "jack_client_open", jack.client_open, missing) &&
                     resolve(library, "jack_client_close", jack.client_close, missing) &&
                     resolve(library, "jack_set_process_callback", jack.set_process_callback,
                             missing) &&
                     resolve(library, "jack_on_shutdown", jack.on_shutdown, missing) &&
                     resolve(library, "jack_port_register", jack.port_register, missing) &&
                     resolve(library, "jack_activate", jack.activate, missing) &&
                     resolve(library, "jack_port_get_buffer", jack.port_get_buffer, missing) &&
                     resolve(library, "jack_midi_get_event_count", jack.midi_get_event_count,
                             missing) &&
                     resolve(library, "jack_midi_event_get", jack.midi_event_get, missing) &&
                     resolve(library, "jack_get_ports", jack.get_ports, missing) &&
                     resolve(library, "jack_free", jack.free_, missing) &&
                     resolve(library, "jack_connect", jack.connect, missing) &&
                     resolve(library, "jack_port_name", jack.port_name, missing) &&
                     resolve(library, "jack_get_client_name", jack.get_client_name, missing) &&
                     resolve(library, "jack_last_frame_time", jack.last_frame_time, missing);
            if (!loaded) error = "libjack.so.0 has no " + missing;
        }
    }
    why = error;
    return loaded ? &jack : nullptr;
}

void say(char* error, int size, const char* format, ...) {
    if (!error || size <= 0) return;
    va_list args;
    va_start(args, format);
    vsnprintf(error, size_t(size), format, args);
    va_end(args);
}

}  // namespace

struct vs_midi_in {
    const Jack* jack = nullptr;
    jack_client_t* client = nullptr;
    jack_port_t* port = nullptr;
    std::vector<vs_midi_message> ring;
    uint32_t mask = 0;
    std::atomic<uint32_t> write{0}, read{0};
    sem_t ready;
    std::atomic<int64_t> received{0}, dropped{0}, ignored{0}, malformed{0}, unreadable{0},
        cycles{0}, server_gone{0};
};

namespace {

// JACK's process thread: no allocation, no lock, no Python; sem_post is the only system call.
int process(jack_nframes_t frames, void* arg) {
    vs_midi_in* in = static_cast<vs_midi_in*>(arg);
    const Jack& jack = *in->jack;
    in->cycles.fetch_add(1, std::memory_order_relaxed);
    void* buffer = jack.port_get_buffer(in->port, frames);
    if (!buffer) return 0;
    const uint32_t count = jack.midi_get_event_count(buffer);
    const jack_nframes_t start = jack.last_frame_time(in->client);
    bool queued = false;
    for (uint32_t i = 0; i < count; ++i) {
        jack_midi_event_t event;
        if (jack.midi_event_get(&event, buffer, i) != 0 || !event.buffer) {
            in->unreadable.fetch_add(1, std::memory_order_relaxed);
            continue;
        }
        const uint8_t status = event.size ? event.buffer[0] : 0;
        if (event.size && (status == 0xF0 || status == 0xF1 || status == 0xF8 || status == 0xFE)) {
            in->ignored.fetch_add(1, std::memory_order_relaxed);
            continue;
        }
        if (event.size == 0 || event.size > 3) {
            in->malformed.fetch_add(1, std::memory_order_relaxed);
            continue;
        }
        const uint32_t w = in->write.load(std::memory_order_relaxed);
        if (w - in->read.load(std::memory_order_acquire) > in->mask) {
            in->dropped.fetch_add(1, std::memory_order_relaxed);
            continue;
        }
        vs_midi_message& slot = in->ring[w & in->mask];
        slot.frame = start + event.time;
        slot.size = uint8_t(event.size);
        std::memcpy(slot.bytes, event.buffer, event.size);
        in->write.store(w + 1, std::memory_order_release);
        in->received.fetch_add(1, std::memory_order_relaxed);
        queued = true;
    }
    if (queued) sem_post(&in->ready);
    return 0;
}

void shutdown(void* arg) {
    vs_midi_in* in = static_cast<vs_midi_in*>(arg);
    in->server_gone.store(1, std::memory_order_relaxed);
    sem_post(&in->ready);
}

}  // namespace

extern "C" {

vs_midi_in* vs_midi_in_open(const char* client_name, const char* port_name, int capacity,
                            char* error, int error_size) {
    std::string why;
    const Jack* jack = load_jack(why);
    if (!jack) {
        say(error, error_size, "%s", why.c_str());
        return nullptr;
    }
    uint32_t size = 16;
    while (size < uint32_t(capacity > 0 ? capacity : 1) && size < (1u << 24)) size <<= 1;
    vs_midi_in* in = new (std::nothrow) vs_midi_in;
    if (!in) {
        say(error, error_size, "out of memory");
        return nullptr;
    }
    in->jack = jack;
    in->ring.assign(size, vs_midi_message{});
    in->mask = size - 1;
    sem_init(&in->ready, 0, 0);
    int status = 0;
    in->client = jack->client_open(client_name, JACK_NO_START_SERVER, &status);
    if (!in->client) {
        if (status & JACK_SERVER_FAILED)
            say(error, error_size, "no JACK server is running (JACK status 0x%x)", status);
        else
            say(error, error_size, "JACK refused the client (JACK status 0x%x)", status);
        sem_destroy(&in->ready);
        delete in;
        return nullptr;
    }
    in->port = jack->port_register(in->client, port_name, JACK_MIDI_TYPE, JACK_PORT_IS_INPUT, 0);
    if (!in->port) {
        say(error, error_size, "JACK refused the MIDI input port %s", port_name);
    } else if (jack->set_process_callback(in->client, process, in) != 0) {
        say(error, error_size, "JACK refused the process callback");
    } else {
        jack->on_shutdown(in->client, shutdown, in);
        if (jack->activate(in->client) == 0) return in;
        say(error, error_size, "JACK did not activate the MIDI client");
    }
    jack->client_close(in->client);
    sem_destroy(&in->ready);
    delete in;
    return nullptr;
}

void vs_midi_in_close(vs_midi_in* in) {
    if (!in) return;
    in->jack->client_close(in->client);  // deactivates first: no process callback after this
    sem_destroy(&in->ready);
    delete in;
}

int vs_midi_in_read(vs_midi_in* in, vs_midi_message* out, int max, int timeout_ms) {
    uint32_t r = in->read.load(std::memory_order_relaxed);
    uint32_t w = in->write.load(std::memory_order_acquire);
    if (w == r && timeout_ms > 0) {
        timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += long(timeout_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec += 1;
            deadline.tv_nsec -= 1000000000L;
        }
        while (sem_timedwait(&in->ready, &deadline) != 0 && errno == EINTR) {
        }
        w = in->write.load(std::memory_order_acquire);
    }
    int n = 0;
    for (; n < max && r != w; ++n, ++r) out[n] = in->ring[r & in->mask];
    in->read.store(r, std::memory_order_release);
    if (r == w) {
        while (sem_trywait(&in->ready) == 0) {  // posts for cycles already read: no empty wakeups
        }
    }
    return n;
}

void vs_midi_in_wake(vs_midi_in* in) { sem_post(&in->ready); }

const char* vs_midi_in_port_name(vs_midi_in* in) { return in->jack->port_name(in->port); }

int64_t vs_midi_in_sources(vs_midi_in* in, char* out, int64_t size) {
    if (in->server_gone.load(std::memory_order_relaxed)) return -1;
    const char** ports = in->jack->get_ports(in->client, nullptr, JACK_MIDI_TYPE,
                                             JACK_PORT_IS_OUTPUT);
    std::string own = std::string(in->jack->get_client_name(in->client)) + ":";
    std::string list;
    if (ports) {
        for (const char** port = ports; *port; ++port) {
            if (std::strncmp(*port, own.c_str(), own.size()) == 0) continue;
            if (!list.empty()) list += '\n';
            list += *port;
        }
        in->jack->free_(ports);
    }
    if (out && size > 0) {
        const size_t n = std::min(list.size(), size_t(size - 1));
        std::memcpy(out, list.data(), n);
        out[n] = '\0';
    }
    return int64_t(list.size());
}

int vs_midi_in_connect(vs_midi_in* in, const char* source) {
    const int result = in->jack->connect(in->client, source, in->jack->port_name(in->port));
    return result == EEXIST ? 0 : result;
}

void vs_midi_in_get_stats(vs_midi_in* in, vs_midi_in_stats* out) {
    out->received = in->received.load(std::memory_order_relaxed);
    out->dropped = in->dropped.load(std::memory_order_relaxed);
    out->ignored = in->ignored.load(std::memory_order_relaxed);
    out->malformed = in->malformed.load(std::memory_order_relaxed);
    out->unreadable = in->unreadable.load(std::memory_order_relaxed);
    out->cycles = in->cycles.load(std::memory_order_relaxed);
    out->server_gone = in->server_gone.load(std::memory_order_relaxed);
}

}  // extern "C"
