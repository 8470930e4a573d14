// Time from a parameter change to the re-decoded bank, measured on the engine itself:
//   vae-synth-bench-core PRESET_NUMBER RATE TRIALS OUT.f64
// An "audio thread" calls process() every 128 frames at the audio rate; after each morph change
// it counts the time until the bank it plays is decoded at that controller state (every class).
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "engine.hpp"
#include "params.hpp"

static double now_s() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

int main(int argc, char** argv) {
    if (argc != 5) {
        std::fprintf(stderr, "usage: vae-synth-bench-core PRESET_NUMBER RATE TRIALS OUT.f64\n");
        return 2;
    }
    int rate = std::atoi(argv[2]), trials = std::atoi(argv[3]);
    vs::Engine engine(rate);
    engine.activate(rate);
    engine.set_preset_number(std::atoi(argv[1]));
    if (!engine.wait_idle(60.0)) return 1;
    std::vector<float> left(128), right(128);
    const double block_s = 128.0 / rate;
    auto tick = [&](double& next) {
        engine.process(left.data(), right.data(), 128, nullptr, 0);
        next += block_s;
        double wait = next - now_s();
        if (wait > 0) {
            timespec ts{time_t(wait), long((wait - double(time_t(wait))) * 1e9)};
            nanosleep(&ts, nullptr);
        }
    };
    int morph = vs::param_index("morph");
    std::vector<double> seconds;
    double next = now_s();
    for (int i = 0; i < 50; ++i) tick(next);  // the bank of the loaded preset
    for (int t = 0; t < trials; ++t) {
        engine.set_param(morph, (t % 2) ? 0.25 + 0.001 * t : 0.75 - 0.001 * t);
        uint64_t wanted = engine.control_version();
        double t0 = now_s();
        while (engine.bank_version() < wanted) tick(next);
        seconds.push_back(now_s() - t0);
        for (int i = 0; i < 40; ++i) tick(next);  // ~0.1 s apart, as knob moves
    }
    FILE* f = std::fopen(argv[4], "wb");
    std::fwrite(seconds.data(), sizeof(double), seconds.size(), f);
    std::fclose(f);
    return 0;
}
