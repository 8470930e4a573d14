#include "resample.hpp"

#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>

namespace vs {
namespace {

double bessel_i0(double x) {
    double total = 1.0, term = 1.0;
    for (int k = 1; term > 1e-17 * total; ++k) {
        double t = x / (2.0 * k);
        term *= t * t;
        total += term;
    }
    return total;
}

// math.fsum: the correctly rounded sum (Shewchuk's exact partials)
double fsum(const std::vector<double>& values) {
    std::vector<double> partials;
    for (double x : values) {
        size_t i = 0;
        for (double y : partials) {
            if (std::fabs(x) < std::fabs(y)) std::swap(x, y);
            double hi = x + y;
            double lo = y - (hi - x);
            if (lo != 0.0) partials[i++] = lo;
            x = hi;
        }
        partials.resize(i);
        partials.push_back(x);
    }
    // sum the partials from the top, with the round-half-even correction fsum applies
    double hi = 0.0;
    if (!partials.empty()) {
        size_t n = partials.size();
        hi = partials[--n];
        double lo = 0.0;
        while (n > 0) {
            double x = hi, y = partials[--n];
            hi = x + y;
            double yr = hi - x;
            lo = y - yr;
            if (lo != 0.0) break;
        }
        if (n > 0 && ((lo < 0.0 && partials[n - 1] < 0.0) || (lo > 0.0 && partials[n - 1] > 0.0))) {
            double y = lo * 2.0;
            double x = hi + y;
            double yr = x - hi;
            if (y == yr) hi = x;
        }
    }
    return hi;
}

}  // namespace

Resampler::Resampler(int rate_in, int rate_out, int length_in) : length_in_(length_in) {
    if (rate_in <= 0 || rate_out <= 0 || length_in <= 0)
        throw std::invalid_argument("resampler needs positive rates and length, got " + std::to_string(rate_in) +
                                    " -> " + std::to_string(rate_out));
    int g = std::gcd(rate_in, rate_out);
    up_ = rate_out / g;
    down_ = rate_in / g;
    length_out_ = int((int64_t(length_in) * up_ + down_ - 1) / down_);
    if (up_ == 1 && down_ == 1) return;
    int max_rate = up_ > down_ ? up_ : down_;
    half_len_ = 10 * max_rate;
    int numtaps = 2 * half_len_ + 1;
    double cutoff = 1.0 / max_rate, beta = 5.0;
    double centre = (numtaps - 1) / 2.0, norm = bessel_i0(beta);
    std::vector<double> h(numtaps);
    for (int n = 0; n < numtaps; ++n) {
        double m = n - centre;
        double arg = cutoff * m;
        double sinc = arg == 0 ? 1.0 : std::sin(M_PI * arg) / (M_PI * arg);
        double r = 2.0 * n / (numtaps - 1) - 1.0;
        double rr = 1.0 - r * r;
        double window = bessel_i0(beta * std::sqrt(rr > 0.0 ? rr : 0.0)) / norm;
        h[n] = cutoff * sinc * window;
    }
    double total = fsum(h);
    h_.resize(numtaps);
    for (int n = 0; n < numtaps; ++n) h_[n] = float(h[n] / total * up_);
}

void Resampler::operator()(const float* x, float* out) const {
    if (h_.empty()) {
        for (int i = 0; i < length_in_; ++i) out[i] = x[i];
        return;
    }
    const int64_t taps = int64_t(h_.size());
    for (int64_t m = 0; m < length_out_; ++m) {
        // out[m] = sum_i x[i] h[m*down + half_len - i*up] over the taps inside the filter
        int64_t centre = m * down_ + half_len_;
        int64_t i_lo = centre - (taps - 1) <= 0 ? 0 : (centre - (taps - 1) + up_ - 1) / up_;
        int64_t i_hi = centre / up_;
        if (i_hi > length_in_ - 1) i_hi = length_in_ - 1;
        double acc = 0.0;
        for (int64_t i = i_lo; i <= i_hi; ++i) acc += double(x[i]) * double(h_[centre - i * up_]);
        out[m] = float(acc);
    }
}

}  // namespace vs
