// ONNX Runtime through its C API, loaded with dlopen by absolute path.
//
// The library is the one the player's onnxruntime package ships (the path `make plugin`
// recorded, or $VAE_SYNTH_ONNXRUNTIME), so the plugin never binds to another plugin's copy and a
// missing library is an error message, not a host crash. Sessions follow synth/runtime.py: one
// intra-op thread, no spinning, full graph optimisation; the CUDA provider (heuristic cuDNN
// search) only where a GPU is visible to the driver and the provider starts.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

struct OrtApi;
struct OrtEnv;
struct OrtSession;

namespace vs {

// The process-wide runtime: loaded once, kept until the process exits (unloading ONNX Runtime
// while its thread pools may still exist is not safe).
class Runtime {
public:
    // The runtime, loading it on first use; nullptr with `error` set when it cannot be loaded.
    static Runtime* get(std::string& error);
    static std::string library_path();   // $VAE_SYNTH_ONNXRUNTIME, else the recorded path
    const OrtApi* api = nullptr;
    OrtEnv* env = nullptr;
    std::string path;
    std::string version;
    bool cuda_possible = false;          // a CUDA driver with a device answered
};

struct TensorInfo {
    std::string name;
    bool is_float_tensor = false;
    std::string type;                    // e.g. "tensor(float)", for messages
    std::vector<int64_t> shape;          // -1 where symbolic or unknown
    bool has_shape = false;
};

class Session {
public:
    // optimise=false opens the graph only to read its interface (as the Python validator does).
    // device: "auto" | "cpu" | "cuda". Throws std::runtime_error with ONNX Runtime's message.
    Session(Runtime* rt, const std::string& path, bool optimise, const std::string& device);
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    std::vector<TensorInfo> inputs() const;
    std::vector<TensorInfo> outputs() const;
    // z [batch, dim] float32 -> first output [batch, out_len] into `out` (resized; a worker-thread
    // call). Throws on failure.
    void run(const float* z, int64_t batch, int64_t dim, std::vector<float>& out, int64_t& out_len);
    bool on_cuda() const { return cuda_; }

private:
    Runtime* rt_;
    OrtSession* session_ = nullptr;
    std::string input_name_, output_name_;
    bool cuda_ = false;
};

}  // namespace vs
