// A headless CLAP host for the tests: loads a .clap, renders an event script (see
// host_common.hpp) block by block with MIDI and parameter events, saves/restores state.
#include <dlfcn.h>

#include <cstdio>
#include <map>

#include "clap/entry.h"
#include "clap/ext/params.h"
#include "clap/ext/state.h"
#include "clap/plugin-factory.h"
#include "host_common.hpp"

namespace {

const void* get_extension(const clap_host_t*, const char*) { return nullptr; }
void request_restart(const clap_host_t*) {}
void request_process(const clap_host_t*) {}
void request_callback(const clap_host_t*) {}

struct EventList {
    std::vector<const clap_event_header_t*> items;
    static uint32_t size(const clap_input_events_t* list) {
        return uint32_t(static_cast<EventList*>(list->ctx)->items.size());
    }
    static const clap_event_header_t* get(const clap_input_events_t* list, uint32_t i) {
        return static_cast<EventList*>(list->ctx)->items[i];
    }
};

bool discard(const clap_output_events_t*, const clap_event_header_t*) { return true; }

struct Buffer {
    std::vector<unsigned char> bytes;
    size_t read = 0;
    static int64_t write(const clap_ostream_t* s, const void* data, uint64_t n) {
        auto* b = static_cast<Buffer*>(s->ctx);
        b->bytes.insert(b->bytes.end(), (const unsigned char*)data, (const unsigned char*)data + n);
        return int64_t(n);
    }
    static int64_t readfn(const clap_istream_t* s, void* data, uint64_t n) {
        auto* b = static_cast<Buffer*>(s->ctx);
        uint64_t left = b->bytes.size() - b->read;
        if (n > left) n = left;
        std::memcpy(data, b->bytes.data() + b->read, n);
        b->read += n;
        return int64_t(n);
    }
};

}  // namespace

int main(int argc, char** argv) {
    try {
        host::Options o = host::parse(argc, argv);
        void* lib = dlopen(o.plugin.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!lib) throw std::runtime_error(std::string("dlopen: ") + dlerror());
        auto* entry = static_cast<const clap_plugin_entry_t*>(dlsym(lib, "clap_entry"));
        if (!entry || !entry->init(o.plugin.c_str())) throw std::runtime_error("no clap_entry");
        auto* factory = static_cast<const clap_plugin_factory_t*>(entry->get_factory(CLAP_PLUGIN_FACTORY_ID));
        const clap_plugin_descriptor_t* desc = factory->get_plugin_descriptor(factory, 0);
        clap_host_t host_info = {CLAP_VERSION, nullptr, "vae-synth test host", "vae-synth", "", "0.1",
                                 get_extension, request_restart, request_process, request_callback};
        const clap_plugin_t* plugin = factory->create_plugin(factory, &host_info, desc->id);
        if (!plugin || !plugin->init(plugin)) throw std::runtime_error("the plugin did not initialise");
        auto* params = static_cast<const clap_plugin_params_t*>(plugin->get_extension(plugin, CLAP_EXT_PARAMS));
        auto* state = static_cast<const clap_plugin_state_t*>(plugin->get_extension(plugin, CLAP_EXT_STATE));
        std::map<std::string, clap_id> ids;
        for (uint32_t i = 0; params && i < params->count(plugin); ++i) {
            clap_param_info_t info;
            if (params->get_info(plugin, i, &info)) ids[info.name] = info.id;
        }
        auto id_of = [&](const std::string& name) {
            auto it = ids.find(name);
            if (it == ids.end()) throw std::runtime_error("the plugin has no parameter " + name);
            return it->second;
        };
        if (!o.state_in.empty()) {
            Buffer b;
            b.bytes = host::read_file(o.state_in);
            clap_istream_t in = {&b, Buffer::readfn};
            if (!state || !state->load(plugin, &in)) throw std::runtime_error("state load failed");
        }
        int max_block = *std::max_element(o.blocks.begin(), o.blocks.end());
        if (!plugin->activate(plugin, double(o.rate), 1, uint32_t(max_block)))
            throw std::runtime_error("activate failed");
        plugin->start_processing(plugin);
        host::sleep_s(o.warmup);

        // command-line parameters and the offline switch go in with the first block
        std::vector<clap_event_param_value_t> first_params;
        auto param_event = [&](clap_id id, double value) {
            clap_event_param_value_t e{};
            e.header = {sizeof(e), 0, CLAP_CORE_EVENT_SPACE_ID, CLAP_EVENT_PARAM_VALUE, 0};
            e.param_id = id;
            e.note_id = -1;
            e.port_index = -1;
            e.channel = -1;
            e.key = -1;
            e.value = value;
            return e;
        };
        if (o.offline) first_params.push_back(param_event(id_of("offline"), 1.0));
        for (const auto& [name, value] : o.params) first_params.push_back(param_event(id_of(name), value));

        std::vector<clap_event_param_value_t> param_events;
        std::vector<clap_event_midi_t> midi_events;
        param_events.reserve(o.events.size() + first_params.size());
        midi_events.reserve(o.events.size());
        EventList list;
        list.items.reserve(o.events.size() + first_params.size());
        clap_input_events_t in_events = {&list, EventList::size, EventList::get};
        clap_output_events_t out_events = {nullptr, discard};
        std::vector<float> left(max_block), right(max_block);
        float* channels[2] = {left.data(), right.data()};
        clap_audio_buffer_t output = {channels, nullptr, 2, 0, 0};
        host::Output out;
        out.interleaved.reserve(size_t(o.frames) * 2);
        host::RtCheck rt;
        std::vector<double> timing;
        timing.reserve(size_t(o.frames / *std::min_element(o.blocks.begin(), o.blocks.end())) + 1);
        size_t next_event = 0;
        long pos = 0;
        size_t block_index = 0;
        double start = host::now_s();
        while (pos < o.frames) {
            int n = int(std::min<long>(o.blocks[block_index++ % o.blocks.size()], o.frames - pos));
            list.items.clear();
            param_events.clear();
            midi_events.clear();
            if (pos == 0)
                for (const auto& e : first_params) param_events.push_back(e);
            size_t scan = next_event;
            for (; scan < o.events.size() && o.events[scan].frame < pos + n; ++scan)
                if (o.events[scan].is_param)
                    param_events.push_back(param_event(id_of(o.events[scan].name), o.events[scan].value));
            for (auto& e : param_events) list.items.push_back(&e.header);
            for (size_t i = next_event; i < scan; ++i) {
                const host::Event& e = o.events[i];
                if (e.is_param) continue;
                clap_event_midi_t m{};
                m.header = {sizeof(m), uint32_t(std::max(0L, e.frame - pos)), CLAP_CORE_EVENT_SPACE_ID, CLAP_EVENT_MIDI, 0};
                m.port_index = 0;
                std::memcpy(m.data, e.bytes, 3);
                midi_events.push_back(m);
            }
            for (auto& m : midi_events) list.items.push_back(&m.header);
            next_event = scan;
            clap_process_t process = {};
            process.steady_time = pos;
            process.frames_count = uint32_t(n);
            process.audio_outputs = &output;
            process.audio_outputs_count = 1;
            process.in_events = &in_events;
            process.out_events = &out_events;
            double cpu0 = host::thread_cpu_s();
            if (rt.begin) rt.begin();
            plugin->process(plugin, &process);
            if (rt.end) rt.end();
            if (!o.timing.empty()) timing.push_back(host::thread_cpu_s() - cpu0);
            out.add(left.data(), right.data(), n);
            pos += n;
            if (o.realtime) host::sleep_s(start + double(pos) / o.rate - host::now_s());
        }
        if (rt.report) rt.report(stderr);
        if (!o.timing.empty()) host::write_file(o.timing, timing.data(), timing.size() * sizeof(double));
        if (!o.state_out.empty()) {
            Buffer b;
            clap_ostream_t s = {&b, Buffer::write};
            if (!state || !state->save(plugin, &s)) throw std::runtime_error("state save failed");
            host::write_file(o.state_out, b.bytes.data(), b.bytes.size());
        }
        plugin->stop_processing(plugin);
        plugin->deactivate(plugin);
        plugin->destroy(plugin);
        entry->deinit();
        out.write(o.out);
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "vae-synth-clap-host: %s\n", e.what());
        return 2;
    }
}
