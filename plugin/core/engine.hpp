// The plugin's engine, independent of any plugin framework: preset bundle -> ONNX Runtime
// sessions -> sound bank (decoded on a worker thread) -> voices -> mix -> output stage.
//
// Threads:
//  - the host's audio thread calls process() (and, in every format here, set_param / MIDI);
//    it only mixes buffers the worker prepared: no allocation, lock, I/O or model call;
//  - the worker thread loads presets, decodes the bank whenever a latent parameter moved (one
//    class per ONNX call, the class just played first, as synth/bank.py's BankDecoder), publishes
//    each bank through one atomic pointer, and frees what the audio thread handed back;
//  - the host's main thread calls activate(), the state calls and the destructor.
// In offline mode process() waits for the decode a note needs, as `vae-synth render` does, so
// that a render does not depend on timing.
#pragma once

#include <semaphore.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "params.hpp"
#include "vae_synth_mixer.h"

namespace vs {

struct Program;
struct Sound;
struct Bank;

struct MidiMessage {
    uint32_t frame;  // offset in the block
    uint8_t size;
    uint8_t data[3];
};

class Engine {
public:
    static constexpr int MAX_FRAMES = 4096;
    static constexpr int VOICES = 16;

    explicit Engine(double samplerate);
    ~Engine();
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    // main thread, never concurrent with process(): (re)build the voices and output stage for
    // this rate, clear every voice (JUCE hosts play a note while probing), reload the preset at
    // a new rate.
    void activate(double samplerate);

    // audio thread: render `frames` frames (any count; split into blocks of at most MAX_FRAMES)
    // with the MIDI events of this block (sorted by frame) into left/right.
    void process(float* left, float* right, uint32_t frames, const MidiMessage* events, uint32_t count);

    // parameters of the engine's table (index into PARAMS), normalised to [0, 1]
    void set_param(int index, double x);
    double get_param(int index) const { return snapshot_.get(index); }

    // preset choice: number k >= 0 is the preset `vae-synth presets` numbers k (its Program
    // Change number); -1 keeps the project's preset (default: drums). Any thread.
    void set_preset_number(int k);
    int preset_number() const { return preset_number_.load(); }
    // a preset by folder (absolute path) with its name as the fallback where the path is gone
    void set_preset(const std::string& path, const std::string& name);
    void begin_state_restore();
    // what is playing (or being loaded): path and name, for the host's project
    std::string preset_path() const;
    std::string preset_name() const;
    std::string status() const;  // the last error or what is playing
    bool ready() const { return ready_.load(); }

    void set_offline(bool offline) { offline_.store(offline); }
    bool offline() const { return offline_.load(); }
    // main thread: block until the worker is idle (loaded and decoded), at most `seconds`
    bool wait_idle(double seconds);

    // audio thread: the controller-state version the bank it plays is at (0: none yet), and the
    // version of the latest controller state (a benchmark measures the time between the two)
    uint64_t bank_version() const;
    uint64_t control_version() const { return snapshot_.version(); }

    // statistics (written by the audio thread)
    struct Stats {
        std::atomic<int64_t> notes{0}, unmapped{0}, dropped_notes{0}, blocks{0}, waits{0}, lost{0};
    } stats;

private:
    struct Request {
        uint64_t serial = 0;
        std::string path, name;
        int number = 0;  // > 0: the k-th installed preset instead of path/name
        int samplerate = 0;
    };

    void worker_main();
    bool load(const Request& request);
    bool decode_step(bool all);
    void publish(Bank* bank);
    void release_bank(Bank* bank);
    void reap();
    void report(const std::string& message);

    // audio-thread helpers
    void block(float* left, float* right, int n);
    void adopt_newest();
    void wait_for_decode();
    void handle(const MidiMessage& m);
    void note_on(int note, int velocity);
    void drain_released();
    void give_back(void* item, bool is_bank);
    void request_reload();

    ControlSnapshot snapshot_;
    int samplerate_ = 48000;
    vs_mixer* mixer_ = nullptr;
    vs_output* output_ = nullptr;
    std::vector<double> mix_l_, mix_r_;
    std::vector<vs_buffer> loops_;
    std::vector<int> taken_;

    // bank handover: worker -> audio (newest only), audio -> worker (what it let go of)
    std::atomic<Bank*> mailbox_{nullptr};
    Bank* current_ = nullptr;  // audio thread's
    static constexpr int RETURN_CAPACITY = 8192;
    std::vector<std::atomic<void*>> returned_;
    std::vector<char> returned_is_bank_;
    std::atomic<int64_t> returned_write_{0}, returned_read_{0};

    // events waiting for the next block start (the Python engine's ring)
    static constexpr int PENDING_CAPACITY = 1024;
    struct Pending { int kind, a, b; } pending_[PENDING_CAPACITY];
    int pending_count_ = 0;

    // worker state
    std::thread worker_;
    sem_t wake_, published_;
    std::atomic<bool> stopping_{false};
    std::mutex request_mutex_;   // main-thread requests only; the audio thread uses atomics
    Request request_;            // guarded by request_mutex_
    std::atomic<uint64_t> request_serial_{0};
    std::atomic<int> number_request_{-1};   // from the audio thread: preset number to load (-1 none)
    std::atomic<int> program_request_{-1};  // from the audio thread: MIDI program change
    std::atomic<int> rate_request_{0};
    std::atomic<int> target_rate_{48000};  // the rate banks are decoded for
    std::atomic<uint64_t> loaded_serial_{0};
    Program* program_ = nullptr;  // the worker's latest program
    Bank* latest_ = nullptr;      // the worker's latest bank (its own reference)
    std::atomic<int> priority_class_{-1};
    int last_class_ = -1;
    double last_work_ = 0.0;
    std::atomic<bool> idle_{false};
    std::atomic<bool> ready_{false};
    std::atomic<bool> offline_{false};
    std::atomic<int> preset_number_{-1};
    std::atomic<int> preset_baseline_{-1};  // the last preset number seen
    std::atomic<bool> restoring_{false};
    mutable std::mutex info_mutex_;  // worker <-> main thread only
    std::string info_path_, info_name_, status_;
    int param_morph_, param_volume_, param_decay_, param_pitch_, param_bend_;
};

}  // namespace vs
