// What the two headless test hosts share: the command line, the event script, the block plan,
// the optional real-time check and the raw float32 output.
//
//   HOST PLUGIN --rate SR --frames N [--blocks 128[,64,...]] [--events FILE] [--out OUT.f32]
//        [--param NAME=X ...] [--offline] [--state-in FILE] [--state-out FILE]
//        [--warmup SECONDS] [--realtime] [--timing OUT.f64]
//
// The event script has one event per line: `midi FRAME B0 B1 [B2]` or `param FRAME NAME X`.
// Parameter changes are set between blocks: before the block that holds FRAME (a host's
// automation between render chunks). --blocks cycles through its list (variable block sizes).
// --realtime paces the blocks at the audio rate; --warmup waits that long after activation;
// --timing writes each process() call's thread CPU time (seconds, float64) to OUT.
// With libvae_synth_rtcheck.so preloaded, the calls it counts inside process()/run() are
// reported as one line `rtcheck {...}` on stderr.
#pragma once

#include <dlfcn.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace host {

struct Event {
    long frame;
    bool is_param;
    unsigned char bytes[3];
    int size;
    std::string name;
    double value;
};

struct Options {
    std::string plugin;
    int rate = 48000;
    long frames = 48000;
    std::vector<int> blocks{128};
    std::vector<Event> events;
    std::vector<std::pair<std::string, double>> params;
    std::string out, state_in, state_out, timing;
    bool offline = false, realtime = false;
    double warmup = 0.0;
};

inline std::vector<Event> read_events(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot read " + path);
    std::vector<Event> events;
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream ss(line);
        std::string kind;
        if (!(ss >> kind) || kind[0] == '#') continue;
        Event e{};
        ss >> e.frame;
        if (kind == "midi") {
            int b;
            while (e.size < 3 && ss >> b) e.bytes[e.size++] = (unsigned char)b;
        } else if (kind == "param") {
            e.is_param = true;
            ss >> e.name >> e.value;
        } else {
            throw std::runtime_error("unknown event '" + kind + "' in " + path);
        }
        events.push_back(e);
    }
    std::stable_sort(events.begin(), events.end(), [](const Event& a, const Event& b) { return a.frame < b.frame; });
    return events;
}

inline Options parse(int argc, char** argv) {
    Options o;
    if (argc < 2) throw std::runtime_error("usage: host PLUGIN --rate SR --frames N [options]; see host_common.hpp");
    o.plugin = argv[1];
    for (int i = 2; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
            return argv[++i];
        };
        if (a == "--rate") o.rate = std::atoi(next().c_str());
        else if (a == "--frames") o.frames = std::atol(next().c_str());
        else if (a == "--blocks") {
            o.blocks.clear();
            std::stringstream ss(next());
            std::string item;
            while (std::getline(ss, item, ',')) o.blocks.push_back(std::atoi(item.c_str()));
        } else if (a == "--events") o.events = read_events(next());
        else if (a == "--out") o.out = next();
        else if (a == "--param") {
            std::string kv = next();
            size_t eq = kv.find('=');
            o.params.push_back({kv.substr(0, eq), std::atof(kv.substr(eq + 1).c_str())});
        } else if (a == "--offline") o.offline = true;
        else if (a == "--realtime") o.realtime = true;
        else if (a == "--warmup") o.warmup = std::atof(next().c_str());
        else if (a == "--state-in") o.state_in = next();
        else if (a == "--state-out") o.state_out = next();
        else if (a == "--timing") o.timing = next();
        else throw std::runtime_error("unknown option " + a);
    }
    for (int b : o.blocks)
        if (b < 1) throw std::runtime_error("block sizes must be positive");
    return o;
}

inline void sleep_s(double s) {
    if (s <= 0) return;
    timespec ts{time_t(s), long((s - double(time_t(s))) * 1e9)};
    nanosleep(&ts, nullptr);
}

inline double thread_cpu_s() {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

inline double now_s() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// the LD_PRELOADed counter, when there is one
struct RtCheck {
    void (*begin)() = nullptr;
    void (*end)() = nullptr;
    void (*report)(FILE*) = nullptr;
    RtCheck() {
        begin = reinterpret_cast<void (*)()>(dlsym(RTLD_DEFAULT, "vs_rtcheck_begin"));
        end = reinterpret_cast<void (*)()>(dlsym(RTLD_DEFAULT, "vs_rtcheck_end"));
        report = reinterpret_cast<void (*)(FILE*)>(dlsym(RTLD_DEFAULT, "vs_rtcheck_report"));
    }
};

struct Output {
    std::vector<float> interleaved;
    void add(const float* l, const float* r, int n) {
        for (int k = 0; k < n; ++k) {
            interleaved.push_back(l[k]);
            interleaved.push_back(r[k]);
        }
    }
    void write(const std::string& path) const {
        if (path.empty()) return;
        FILE* f = std::fopen(path.c_str(), "wb");
        if (!f) throw std::runtime_error("cannot write " + path);
        std::fwrite(interleaved.data(), sizeof(float), interleaved.size(), f);
        std::fclose(f);
    }
};

inline std::vector<unsigned char> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path);
    return std::vector<unsigned char>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline void write_file(const std::string& path, const void* data, size_t n) {
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) throw std::runtime_error("cannot write " + path);
    std::fwrite(data, 1, n, f);
    std::fclose(f);
}

}  // namespace host
