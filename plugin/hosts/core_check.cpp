// The plugin core's pieces from the command line, for the tests that hold them against Python:
//   vae-synth-core-check noise A B N       N draws of numpy's default_rng([A, B]).standard_normal
//                                          as raw float64 on stdout
//   vae-synth-core-check validate PATH     load and verify a preset as the plugin does:
//                                          `ok NAME` or `error MESSAGE`; exit 0 / 1
//   vae-synth-core-check presets           the installed presets in search order, then
//                                          `program N NAME PATH` lines: the plugin's numbering
//   vae-synth-core-check latent PATH ...   (see main) latent points of a preset's classes
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "latent.hpp"
#include "ort.hpp"
#include "preset.hpp"

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: vae-synth-core-check noise|validate|presets|latent ...\n");
        return 2;
    }
    std::string cmd = argv[1];
    if (cmd == "noise" && argc == 5) {
        uint64_t a = std::strtoull(argv[2], nullptr, 10), b = std::strtoull(argv[3], nullptr, 10);
        size_t n = std::strtoull(argv[4], nullptr, 10);
        std::vector<double> out(n);
        vs::standard_normal(a, b, out.data(), n);
        std::fwrite(out.data(), sizeof(double), n, stdout);
        return 0;
    }
    if (cmd == "validate" && argc == 3) {
        std::string error;
        vs::Runtime* rt = vs::Runtime::get(error);
        if (!rt) {
            std::printf("error %s\n", error.c_str());
            return 1;
        }
        try {
            vs::Preset p = vs::load_preset(argv[2], rt);
            std::printf("ok %s\n", p.name.c_str());
            return 0;
        } catch (const std::exception& e) {
            std::printf("error %s\n", e.what());
            return 1;
        }
    }
    if (cmd == "presets") {
        for (const auto& e : vs::list_presets())
            std::printf("listed\t%s\t%s\t%s\n", e.name.c_str(), e.source.c_str(), e.path.c_str());
        auto programs = vs::installed_programs();
        for (size_t i = 0; i < programs.size(); ++i)
            std::printf("program\t%zu\t%s\t%s\n", i, programs[i].name.c_str(), programs[i].path.c_str());
        return 0;
    }
    // latent PATH morph x y variation xy_touched variation_seed pca1..pca8 (values in their units)
    if (cmd == "latent" && argc == 17) {
        try {
            vs::Preset p = vs::load_preset(argv[2], nullptr);
            vs::LatentMap map(p);
            vs::LatentState s;
            s.morph = std::atof(argv[3]);
            s.x = std::atof(argv[4]);
            s.y = std::atof(argv[5]);
            s.variation = std::atof(argv[6]);
            s.xy_touched = std::atoi(argv[7]) != 0;
            s.variation_seed = std::strtoull(argv[8], nullptr, 10);
            for (int i = 0; i < 8; ++i) s.pca[i] = std::atof(argv[9 + i]);
            std::vector<float> z(map.dim());
            for (int c = 0; c < map.n_classes(); ++c) {
                map.point(s, c, z.data());
                std::fwrite(z.data(), sizeof(float), z.size(), stdout);
            }
            return 0;
        } catch (const std::exception& e) {
            std::fprintf(stderr, "%s\n", e.what());
            return 1;
        }
    }
    std::fprintf(stderr, "vae-synth-core-check: bad arguments\n");
    return 2;
}
