// Polyphase resampling of a decoded frame from the preset's rate to the host's (synth/resample.py:
// scipy.signal.resample_poly's Kaiser-windowed sinc, beta 5, half length 10 * max(up, down)).
#pragma once

#include <cstdint>
#include <vector>

namespace vs {

class Resampler {
public:
    Resampler(int rate_in, int rate_out, int length_in);
    int length_out() const { return length_out_; }
    // x [length_in] -> out [length_out] (float32, accumulated in float64)
    void operator()(const float* x, float* out) const;

private:
    int up_ = 1, down_ = 1, length_in_, length_out_, half_len_ = 0;
    std::vector<float> h_;  // the filter times `up`, as float32 (the Python matrix's dtype)
};

}  // namespace vs
