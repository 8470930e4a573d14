#include "ort.hpp"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <stdexcept>

#include <onnxruntime/onnxruntime_c_api.h>

#include "build_paths.h"  // VS_ORT_LIBRARY: written by the build from the player's install

namespace vs {
namespace {

std::mutex g_runtime_mutex;
Runtime* g_runtime = nullptr;
std::string g_runtime_error;

// Quietly ask the CUDA driver for a device (synth/runtime.py's _nvidia_gpu_count): loading the
// CUDA provider on a machine without CUDA makes ONNX Runtime print errors.
bool cuda_device_visible() {
    void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return false;
    using init_fn = int (*)(unsigned);
    using count_fn = int (*)(int*);
    auto init = reinterpret_cast<init_fn>(dlsym(lib, "cuInit"));
    auto count = reinterpret_cast<count_fn>(dlsym(lib, "cuDeviceGetCount"));
    int n = 0;
    bool ok = init && count && init(0) == 0 && count(&n) == 0 && n > 0;
    dlclose(lib);
    return ok;
}

std::string take_error(const OrtApi* api, OrtStatus* status) {
    std::string message = api->GetErrorMessage(status);
    api->ReleaseStatus(status);
    return message;
}

// a status nobody acts on must still be released
void ignore(const OrtApi* api, OrtStatus* status) {
    if (status) api->ReleaseStatus(status);
}

void check(const OrtApi* api, OrtStatus* status, const char* what) {
    if (status) throw std::runtime_error(std::string(what) + ": " + take_error(api, status));
}

std::string type_name(ONNXTensorElementDataType t) {
    switch (t) {
        case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT: return "tensor(float)";
        case ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE: return "tensor(double)";
        case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16: return "tensor(float16)";
        case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64: return "tensor(int64)";
        case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32: return "tensor(int32)";
        default: return "tensor(type " + std::to_string(static_cast<int>(t)) + ")";
    }
}

}  // namespace

std::string Runtime::library_path() {
    const char* env = std::getenv("VAE_SYNTH_ONNXRUNTIME");
    if (env && *env) return env;
    return VS_ORT_LIBRARY;
}

Runtime* Runtime::get(std::string& error) {
    std::lock_guard<std::mutex> lock(g_runtime_mutex);
    if (g_runtime) return g_runtime;
    if (!g_runtime_error.empty()) {
        error = g_runtime_error;
        return nullptr;
    }
    std::string path = library_path();
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        const char* why = dlerror();
        g_runtime_error = "cannot load ONNX Runtime from " + path + " (" + (why ? why : "?") +
                          "); reinstall the player (make play) and rebuild the plugin (make plugin)";
        error = g_runtime_error;
        return nullptr;
    }
    using base_fn = const OrtApiBase* (*)();
    auto get_base = reinterpret_cast<base_fn>(dlsym(handle, "OrtGetApiBase"));
    const OrtApiBase* base = get_base ? get_base() : nullptr;
    const OrtApi* api = base ? base->GetApi(ORT_API_VERSION) : nullptr;
    if (!api) {
        g_runtime_error = path + " is not an ONNX Runtime that serves C API version " +
                          std::to_string(ORT_API_VERSION);
        error = g_runtime_error;
        return nullptr;
    }
    OrtEnv* env = nullptr;
    if (OrtStatus* s = api->CreateEnv(ORT_LOGGING_LEVEL_ERROR, "vae-synth", &env)) {
        g_runtime_error = "ONNX Runtime environment: " + take_error(api, s);
        error = g_runtime_error;
        return nullptr;
    }
    auto* rt = new Runtime();
    rt->api = api;
    rt->env = env;
    rt->path = path;
    rt->version = base->GetVersionString();
    rt->cuda_possible = cuda_device_visible();
    g_runtime = rt;
    return rt;
}

Session::Session(Runtime* rt, const std::string& path, bool optimise, const std::string& device)
    : rt_(rt) {
    const OrtApi* api = rt->api;
    OrtSessionOptions* so = nullptr;
    check(api, api->CreateSessionOptions(&so), "session options");
    struct Guard {
        const OrtApi* api;
        OrtSessionOptions* so;
        ~Guard() { api->ReleaseSessionOptions(so); }
    } guard{api, so};
    check(api, api->SetIntraOpNumThreads(so, 1), "session options");
    check(api, api->SetInterOpNumThreads(so, 1), "session options");
    check(api, api->SetSessionExecutionMode(so, ORT_SEQUENTIAL), "session options");
    check(api, api->SetSessionGraphOptimizationLevel(so, optimise ? ORT_ENABLE_ALL : ORT_DISABLE_ALL),
          "session options");
    check(api, api->AddSessionConfigEntry(so, "session.intra_op.allow_spinning", "0"), "session options");
    check(api, api->AddSessionConfigEntry(so, "session.inter_op.allow_spinning", "0"), "session options");
    check(api, api->SetSessionLogSeverityLevel(so, 3), "session options");
    if (optimise && device != "cpu" && rt->cuda_possible) {
        // as synth/runtime.py: heuristic cuDNN search, copies in the default stream
        OrtCUDAProviderOptionsV2* cuda = nullptr;
        if (!api->CreateCUDAProviderOptions(&cuda)) {
            const char* keys[] = {"cudnn_conv_algo_search", "do_copy_in_default_stream"};
            const char* values[] = {"HEURISTIC", "1"};
            OrtStatus* s = api->UpdateCUDAProviderOptions(cuda, keys, values, 2);
            if (!s) s = api->SessionOptionsAppendExecutionProvider_CUDA_V2(so, cuda);
            if (s) {
                std::string why = take_error(api, s);
                if (device == "cuda") {
                    api->ReleaseCUDAProviderOptions(cuda);
                    throw std::runtime_error("cannot decode on CUDA: " + why);
                }
            } else {
                cuda_ = true;
            }
            api->ReleaseCUDAProviderOptions(cuda);
        }
    } else if (device == "cuda") {
        throw std::runtime_error("cannot decode on CUDA: no NVIDIA GPU visible to the CUDA driver");
    }
    check(api, api->CreateSession(rt->env, path.c_str(), so, &session_), "");
    auto ins = inputs();
    auto outs = outputs();
    if (!ins.empty()) input_name_ = ins[0].name;
    if (!outs.empty()) output_name_ = outs[0].name;
}

Session::~Session() {
    if (session_) rt_->api->ReleaseSession(session_);
}

static std::vector<TensorInfo> describe(const OrtApi* api, OrtSession* session, bool input) {
    OrtAllocator* alloc = nullptr;
    check(api, api->GetAllocatorWithDefaultOptions(&alloc), "allocator");
    size_t n = 0;
    check(api, input ? api->SessionGetInputCount(session, &n) : api->SessionGetOutputCount(session, &n),
          "model interface");
    std::vector<TensorInfo> out;
    for (size_t i = 0; i < n; ++i) {
        TensorInfo info;
        char* name = nullptr;
        check(api, input ? api->SessionGetInputName(session, i, alloc, &name)
                         : api->SessionGetOutputName(session, i, alloc, &name), "model interface");
        info.name = name;
        alloc->Free(alloc, name);
        OrtTypeInfo* type = nullptr;
        check(api, input ? api->SessionGetInputTypeInfo(session, i, &type)
                         : api->SessionGetOutputTypeInfo(session, i, &type), "model interface");
        const OrtTensorTypeAndShapeInfo* tensor = nullptr;
        ignore(api, api->CastTypeInfoToTensorInfo(type, &tensor));
        if (tensor) {
            ONNXTensorElementDataType element;
            ignore(api, api->GetTensorElementType(tensor, &element));
            info.is_float_tensor = element == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
            info.type = type_name(element);
            size_t dims = 0;
            ignore(api, api->GetDimensionsCount(tensor, &dims));
            info.shape.resize(dims);
            if (dims) ignore(api, api->GetDimensions(tensor, info.shape.data(), dims));
            info.has_shape = true;
        } else {
            info.type = "a non-tensor type";
        }
        api->ReleaseTypeInfo(type);
        out.push_back(std::move(info));
    }
    return out;
}

std::vector<TensorInfo> Session::inputs() const { return describe(rt_->api, session_, true); }
std::vector<TensorInfo> Session::outputs() const { return describe(rt_->api, session_, false); }

void Session::run(const float* z, int64_t batch, int64_t dim, std::vector<float>& out,
                  int64_t& out_len) {
    const OrtApi* api = rt_->api;
    OrtMemoryInfo* memory = nullptr;
    check(api, api->CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, &memory), "decode");
    int64_t shape[2] = {batch, dim};
    OrtValue* input = nullptr;
    OrtStatus* s = api->CreateTensorWithDataAsOrtValue(
        memory, const_cast<float*>(z), sizeof(float) * batch * dim, shape, 2,
        ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, &input);
    api->ReleaseMemoryInfo(memory);
    check(api, s, "decode");
    const char* in_names[] = {input_name_.c_str()};
    const char* out_names[] = {output_name_.c_str()};
    OrtValue* output = nullptr;
    s = api->Run(session_, nullptr, in_names, &input, 1, out_names, 1, &output);
    api->ReleaseValue(input);
    check(api, s, "decode");
    OrtTensorTypeAndShapeInfo* info = nullptr;
    size_t count = 0;
    s = api->GetTensorTypeAndShape(output, &info);
    if (!s) {
        ignore(api, api->GetTensorShapeElementCount(info, &count));
        api->ReleaseTensorTypeAndShapeInfo(info);
    }
    float* data = nullptr;
    if (!s) s = api->GetTensorMutableData(output, reinterpret_cast<void**>(&data));
    if (s) {
        api->ReleaseValue(output);
        check(api, s, "decode");
    }
    out.assign(data, data + count);
    out_len = batch > 0 ? static_cast<int64_t>(count) / batch : 0;
    api->ReleaseValue(output);
}

}  // namespace vs
