#include "latent.hpp"

#include <cmath>
#include <vector>

#include "preset.hpp"

namespace vs {
namespace {

using u128 = unsigned __int128;

// -- numpy's SeedSequence (pool size 4) ----------------------------------------------------
const uint32_t INIT_A = 0x43b0d7e5, MULT_A = 0x931e8875, INIT_B = 0x8b51f9dd, MULT_B = 0x58f38ded;
const uint32_t MIX_MULT_L = 0xca01f9dd, MIX_MULT_R = 0x4973f715;

struct SeedSequence {
    uint32_t pool[4];
    uint32_t hash_const;
    uint32_t hashmix(uint32_t value) {
        value ^= hash_const;
        hash_const *= MULT_A;
        value *= hash_const;
        return value ^ (value >> 16);
    }
    static uint32_t mix(uint32_t x, uint32_t y) {
        uint32_t r = MIX_MULT_L * x - MIX_MULT_R * y;
        return r ^ (r >> 16);
    }
    explicit SeedSequence(const std::vector<uint32_t>& entropy) {
        hash_const = INIT_A;
        for (size_t i = 0; i < 4; ++i) pool[i] = hashmix(i < entropy.size() ? entropy[i] : 0);
        for (int s = 0; s < 4; ++s)
            for (int d = 0; d < 4; ++d)
                if (s != d) pool[d] = mix(pool[d], hashmix(pool[s]));
        for (size_t s = 4; s < entropy.size(); ++s)
            for (int d = 0; d < 4; ++d) pool[d] = mix(pool[d], hashmix(entropy[s]));
    }
    void generate_state(uint32_t* out, int n) const {
        uint32_t h = INIT_B;
        for (int i = 0; i < n; ++i) {
            uint32_t v = pool[i % 4];
            v ^= h;
            h *= MULT_B;
            v *= h;
            out[i] = v ^ (v >> 16);
        }
    }
};

// an int as numpy's _int_to_uint32_array: little-endian 32-bit words, at least one
void append_words(std::vector<uint32_t>& out, uint64_t v) {
    do {
        out.push_back(uint32_t(v & 0xffffffffu));
        v >>= 32;
    } while (v);
}

// -- PCG64 (XSL-RR 128/64) -------------------------------------------------------------------
struct Pcg64 {
    u128 state = 0, inc = 0;
    static constexpr u128 MULT = (u128(2549297995355413924ULL) << 64) | 4865540595714422341ULL;
    Pcg64(u128 initstate, u128 initseq) {
        inc = (initseq << 1) | 1;
        state = state * MULT + inc;
        state += initstate;
        state = state * MULT + inc;
    }
    uint64_t next64() {
        state = state * MULT + inc;
        uint64_t hi = uint64_t(state >> 64), lo = uint64_t(state);
        unsigned rot = unsigned(hi >> 58);
        uint64_t x = hi ^ lo;
        return (x >> rot) | (x << ((64 - rot) & 63));
    }
    double next_double() { return double(next64() >> 11) * (1.0 / 9007199254740992.0); }
};

// -- the 256-layer ziggurat for the normal distribution, 52-bit mantissa variant ------------
const double ZIG_R = 3.6541528853610088;
const double ZIG_INV_R = 0.27366123732975828;

struct Ziggurat {
    uint64_t ki[256];
    double wi[256], fi[256];
    Ziggurat() {
        // Marsaglia & Tsang's construction: layers of equal area v below exp(-x^2/2) with the
        // base layer's tail beyond r; v from r in closed form.
        typedef long double ld;
        const ld r = 3.6541528853610087963519472518L, m = 4503599627370496.0L;  // 2^52
        const ld f_r = expl(-0.5L * r * r);
        const ld v = r * f_r + sqrtl(3.14159265358979323846264338327950288L / 2.0L) * erfcl(r / sqrtl(2.0L));
        const ld q = v / f_r;
        ld x = r, previous = r;
        ki[0] = uint64_t((r / q) * m);
        ki[1] = 0;
        wi[0] = double(q / m);
        wi[255] = double(r / m);
        fi[0] = 1.0;
        fi[255] = double(f_r);
        for (int i = 254; i >= 1; --i) {
            x = sqrtl(-2.0L * logl(v / x + expl(-0.5L * x * x)));
            ki[i + 1] = uint64_t((x / previous) * m);
            previous = x;
            fi[i] = double(expl(-0.5L * x * x));
            wi[i] = double(x / m);
        }
    }
};

const Ziggurat& ziggurat() {
    static const Ziggurat z;
    return z;
}

double normal(Pcg64& rng, const Ziggurat& z) {
    for (;;) {
        uint64_t r = rng.next64();
        int idx = int(r & 0xff);
        r >>= 8;
        int sign = int(r & 1);
        uint64_t rabs = (r >> 1) & 0x000fffffffffffffULL;
        double x = double(rabs) * z.wi[idx];
        if (sign) x = -x;
        if (rabs < z.ki[idx]) return x;
        if (idx == 0) {
            for (;;) {
                double xx = -ZIG_INV_R * std::log1p(-rng.next_double());
                double yy = -std::log1p(-rng.next_double());
                if (yy + yy > xx * xx) return ((rabs >> 8) & 1) ? -(ZIG_R + xx) : ZIG_R + xx;
            }
        }
        if ((z.fi[idx - 1] - z.fi[idx]) * rng.next_double() + z.fi[idx] < std::exp(-0.5 * x * x)) return x;
    }
}

}  // namespace

void standard_normal(uint64_t a, uint64_t b, double* out, size_t n) {
    std::vector<uint32_t> entropy;
    append_words(entropy, a);
    append_words(entropy, b);
    SeedSequence seq(entropy);
    uint32_t words[8];
    seq.generate_state(words, 8);
    uint64_t s[4];
    for (int i = 0; i < 4; ++i) s[i] = uint64_t(words[2 * i]) | (uint64_t(words[2 * i + 1]) << 32);
    Pcg64 rng((u128(s[0]) << 64) | s[1], (u128(s[2]) << 64) | s[3]);
    const Ziggurat& z = ziggurat();
    for (size_t i = 0; i < n; ++i) out[i] = normal(rng, z);
}

LatentMap::LatentMap(const Preset& p) {
    n_ = int(p.classes.size());
    d_ = p.latent_dim;
    centroids_.resize(size_t(n_) * d_);
    stds_.resize(size_t(n_) * d_);
    for (int c = 0; c < n_; ++c)
        for (int j = 0; j < d_; ++j) {
            centroids_[size_t(c) * d_ + j] = p.classes[c].centroid[j];
            stds_[size_t(c) * d_ + j] = p.classes[c].std[j];
        }
    // a macro value of 1 moves one standard deviation of the latent means along its axis
    k_ = p.pca_k < 8 ? p.pca_k : 8;
    pca_axes_.resize(size_t(k_) * d_);
    for (int i = 0; i < k_; ++i) {
        float var = p.pca_variance[i];
        float scale = std::sqrt(var > 0.0f ? var : 0.0f);
        for (int j = 0; j < d_; ++j) pca_axes_[size_t(i) * d_ + j] = p.pca_components[size_t(i) * d_ + j] * scale;
    }
    std::string target = p.midi.morph_target.empty() ? p.classes[n_ > 1 ? 1 : 0].name : p.midi.morph_target;
    target_ = p.class_index(target);
    for (int i = 0; i < 4; ++i) {
        std::string name = p.midi.xy_corners.size() == 4 ? p.midi.xy_corners[i] : p.classes[i % n_].name;
        corners_[i] = p.class_index(name);
    }
}

void LatentMap::point(const LatentState& s, int c, float* z) const {
    const float* base = centroid(c);
    // the morph target: the XY point once the pad has moved, else the target class's centre
    std::vector<float> target(d_);
    if (s.xy_touched) {
        for (int j = 0; j < d_; ++j) {
            double c0 = centroid(corners_[0])[j], c1 = centroid(corners_[1])[j];
            double c2 = centroid(corners_[2])[j], c3 = centroid(corners_[3])[j];
            double bottom = (1.0 - s.x) * c0 + s.x * c1;
            double top = (1.0 - s.x) * c2 + s.x * c3;
            target[j] = float((1.0 - s.y) * bottom + s.y * top);
        }
    } else {
        for (int j = 0; j < d_; ++j) target[j] = centroid(target_)[j];
    }
    if (s.morph > 0.0) {
        // numpy 2: a Python float times a float32 array is float32 arithmetic
        float w0 = float(1.0 - s.morph), w1 = float(s.morph);
        for (int j = 0; j < d_; ++j) {
            float a = w0 * base[j];
            float b = w1 * target[j];
            z[j] = a + b;
        }
    } else {
        for (int j = 0; j < d_; ++j) z[j] = base[j];
    }
    bool any = false;
    float amounts[8];
    for (int i = 0; i < k_; ++i) {
        amounts[i] = float(s.pca[i]);
        any = any || amounts[i] != 0.0f;
    }
    if (any)
        for (int i = 0; i < k_; ++i)
            if (amounts[i] != 0.0f)
                for (int j = 0; j < d_; ++j) {
                    float step = amounts[i] * pca_axes_[size_t(i) * d_ + j];
                    z[j] = z[j] + step;
                }
    if (s.variation > 0.0) {
        // the whole [C, D] draw, as Python does, then this class's row
        std::vector<double> noise(size_t(n_) * d_);
        standard_normal(seed_, s.variation_seed, noise.data(), noise.size());
        float amount = float(s.variation);
        for (int j = 0; j < d_; ++j) {
            float scaled = amount * stds_[size_t(c) * d_ + j];
            float offset = scaled * float(noise[size_t(c) * d_ + j]);
            z[j] = z[j] + offset;
        }
    }
}

}  // namespace vs
