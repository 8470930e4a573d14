// Where each class's sound sits in latent space for a controller state: synth/latent.py in C++,
// with the same float32/float64 arithmetic step by step (morph lerp, XY bilinear blend, PCA
// macros, variation noise), so that the plugin decodes the points the Python engine decodes.
#pragma once

#include <cstdint>
#include <vector>

#include "params.hpp"

namespace vs {

struct Preset;

// numpy's np.random.default_rng([a, b]).standard_normal(n): SeedSequence -> PCG64 -> ziggurat.
// The ziggurat tables are computed here from the method's definition (not copied from numpy);
// they agree with numpy's to the last bits of a double, so draws cast to float32 (what the
// engine uses) are identical (tests/plugin compares millions of draws).
void standard_normal(uint64_t a, uint64_t b, double* out, size_t n);

class LatentMap {
public:
    explicit LatentMap(const Preset& preset);
    int n_classes() const { return n_; }
    int dim() const { return d_; }
    // The latent point of class c at `state` into z [D] (float32).
    void point(const LatentState& state, int c, float* z) const;
    const float* centroid(int c) const { return &centroids_[size_t(c) * d_]; }

private:
    int n_, d_, target_, k_;
    int corners_[4];
    std::vector<float> centroids_, stds_, pca_axes_;  // [C, D], [C, D], [k<=8, D]
    uint64_t seed_ = 0;
};

}  // namespace vs
