#include "params.hpp"

#include <algorithm>
#include <cstring>

namespace vs {

const ParamSpec PARAMS[] = {
#define VS_PARAM(name, latent, def, low, high, square, unit, description, off) \
    {name, latent, def, low, high, square, unit, description, off},
#include "parameter_table.inc"
#undef VS_PARAM
};
const int PARAM_COUNT = int(sizeof(PARAMS) / sizeof(PARAMS[0]));
static_assert(sizeof(PARAMS) / sizeof(PARAMS[0]) <= MAX_PARAMS, "parameter table too long");

int param_index(const std::string& name) {
    for (int i = 0; i < PARAM_COUNT; ++i)
        if (name == PARAMS[i].name) return i;
    return -1;
}

ControlSnapshot::ControlSnapshot() {
    morph_ = param_index("morph");
    x_ = param_index("x");
    y_ = param_index("y");
    variation_ = param_index("variation");
    for (int i = 0; i < 8; ++i) pca_[i] = param_index("pca" + std::to_string(i + 1));
    reset();
}

void ControlSnapshot::reset() {
    for (int i = 0; i < MAX_PARAMS; ++i) values_[i].store(i < PARAM_COUNT ? PARAMS[i].default_x : 0.0);
    xy_touched_.store(false);
    variation_seed_.store(0);
    version_.fetch_add(1);
}

bool ControlSnapshot::set(int i, double x) {
    if (i < 0 || i >= PARAM_COUNT) return false;
    x = std::min(1.0, std::max(0.0, x));
    if (values_[i].load(std::memory_order_relaxed) == x) return false;
    values_[i].store(x, std::memory_order_relaxed);
    if (!PARAMS[i].latent) return false;
    if (i == x_ || i == y_) xy_touched_.store(true, std::memory_order_relaxed);
    else if (i == variation_) variation_seed_.fetch_add(1, std::memory_order_relaxed);
    version_.fetch_add(1, std::memory_order_release);
    return true;
}

LatentState ControlSnapshot::latent_state() const {
    LatentState s;
    s.version = version_.load(std::memory_order_acquire);
    auto value = [&](int i, double fallback) { return i < 0 ? fallback : PARAMS[i].value(get(i)); };
    s.morph = value(morph_, 0.0);
    s.x = value(x_, 0.5);
    s.y = value(y_, 0.5);
    s.variation = value(variation_, 0.0);
    for (int i = 0; i < 8; ++i) s.pca[i] = value(pca_[i], 0.0);
    s.xy_touched = xy_touched_.load(std::memory_order_relaxed);
    s.variation_seed = variation_seed_.load(std::memory_order_relaxed);
    return s;
}

}  // namespace vs
