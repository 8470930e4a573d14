// A headless LV2 host for the tests, over lilv: loads the bundle, renders an event script (see
// host_common.hpp) with MIDI in an atom sequence and parameters on control ports, saves and
// restores state (lilv's state, control port values included).
#include <lilv/lilv.h>
#include <lv2/atom/atom.h>
#include <lv2/atom/util.h>
#include <lv2/buf-size/buf-size.h>
#include <lv2/midi/midi.h>
#include <lv2/options/options.h>
#include <lv2/parameters/parameters.h>
#include <lv2/urid/urid.h>
#include <lv2/worker/worker.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <memory>

#include "host_common.hpp"

namespace {

const char* PLUGIN_URI = "urn:vae-synth:instrument";

struct Urids {
    std::vector<std::string> names;
    LV2_URID map(const char* uri) {
        for (size_t i = 0; i < names.size(); ++i)
            if (names[i] == uri) return LV2_URID(i + 1);
        names.push_back(uri);
        return LV2_URID(names.size());
    }
    static LV2_URID map_fn(LV2_URID_Map_Handle h, const char* uri) { return static_cast<Urids*>(h)->map(uri); }
    static const char* unmap_fn(LV2_URID_Unmap_Handle h, LV2_URID u) {
        auto* self = static_cast<Urids*>(h);
        return u >= 1 && u <= self->names.size() ? self->names[u - 1].c_str() : nullptr;
    }
};

// the worker runs its jobs at once: this host never schedules from a real-time thread
struct Worker {
    const LV2_Worker_Interface* iface = nullptr;
    LV2_Handle handle = nullptr;
    static LV2_Worker_Status respond(LV2_Worker_Respond_Handle h, uint32_t size, const void* data) {
        auto* w = static_cast<Worker*>(h);
        if (w->iface && w->iface->work_response) w->iface->work_response(w->handle, size, data);
        return LV2_WORKER_SUCCESS;
    }
    static LV2_Worker_Status schedule(LV2_Worker_Schedule_Handle h, uint32_t size, const void* data) {
        auto* w = static_cast<Worker*>(h);
        if (!w->iface) return LV2_WORKER_ERR_UNKNOWN;
        return w->iface->work(w->handle, respond, w, size, data);
    }
};

struct Ports {
    std::map<std::string, uint32_t> index;
    std::vector<float> values;
};

const void* get_port_value(const char* symbol, void* user, uint32_t* size, uint32_t* type) {
    auto* ports = static_cast<std::pair<Ports*, LV2_URID>*>(user);
    auto it = ports->first->index.find(symbol);
    if (it == ports->first->index.end()) return nullptr;
    *size = sizeof(float);
    *type = ports->second;
    return &ports->first->values[it->second];
}

void set_port_value(const char* symbol, void* user, const void* value, uint32_t size, uint32_t type) {
    auto* ports = static_cast<std::pair<Ports*, LV2_URID>*>(user);
    auto it = ports->first->index.find(symbol);
    if (it != ports->first->index.end() && size == sizeof(float) && type == ports->second)
        ports->first->values[it->second] = *static_cast<const float*>(value);
}

}  // namespace

int main(int argc, char** argv) {
    try {
        host::Options o = host::parse(argc, argv);
        int max_block = *std::max_element(o.blocks.begin(), o.blocks.end());
        LilvWorld* world = lilv_world_new();
        std::string bundle = o.plugin;
        if (bundle.back() != '/') bundle += '/';
        LilvNode* bundle_uri = lilv_new_file_uri(world, nullptr, bundle.c_str());
        lilv_world_load_bundle(world, bundle_uri);
        LilvNode* plugin_uri = lilv_new_uri(world, PLUGIN_URI);
        const LilvPlugin* plugin = lilv_plugins_get_by_uri(lilv_world_get_all_plugins(world), plugin_uri);
        if (!plugin) throw std::runtime_error("no plugin " + std::string(PLUGIN_URI) + " in " + bundle);

        Urids urids;
        LV2_URID_Map map = {&urids, Urids::map_fn};
        LV2_URID_Unmap unmap = {&urids, Urids::unmap_fn};
        Worker worker;
        LV2_Worker_Schedule schedule = {&worker, Worker::schedule};
        int32_t min_block = 1, max_len = max_block, nominal = o.blocks[0];
        float rate = float(o.rate);
        LV2_URID atom_int = map.map(map.handle, LV2_ATOM__Int), atom_float = map.map(map.handle, LV2_ATOM__Float);
        LV2_Options_Option options[] = {
            {LV2_OPTIONS_INSTANCE, 0, map.map(map.handle, LV2_BUF_SIZE__minBlockLength), sizeof(int32_t), atom_int, &min_block},
            {LV2_OPTIONS_INSTANCE, 0, map.map(map.handle, LV2_BUF_SIZE__maxBlockLength), sizeof(int32_t), atom_int, &max_len},
            {LV2_OPTIONS_INSTANCE, 0, map.map(map.handle, LV2_BUF_SIZE__nominalBlockLength), sizeof(int32_t), atom_int, &nominal},
            {LV2_OPTIONS_INSTANCE, 0, map.map(map.handle, LV2_PARAMETERS__sampleRate), sizeof(float), atom_float, &rate},
            {LV2_OPTIONS_INSTANCE, 0, 0, 0, 0, nullptr}};
        LV2_Feature f_map = {LV2_URID__map, &map}, f_unmap = {LV2_URID__unmap, &unmap};
        LV2_Feature f_options = {LV2_OPTIONS__options, options}, f_worker = {LV2_WORKER__schedule, &schedule};
        LV2_Feature f_bounded = {LV2_BUF_SIZE__boundedBlockLength, nullptr};
        const LV2_Feature* features[] = {&f_map, &f_unmap, &f_options, &f_worker, &f_bounded, nullptr};

        LilvInstance* instance = lilv_plugin_instantiate(plugin, double(o.rate), features);
        if (!instance) throw std::runtime_error("instantiation failed");
        worker.handle = lilv_instance_get_handle(instance);
        worker.iface = static_cast<const LV2_Worker_Interface*>(lilv_instance_get_extension_data(instance, LV2_WORKER__interface));

        // ports: control inputs by symbol, two audio outputs, the MIDI atom input, atom output
        const uint32_t n_ports = lilv_plugin_get_num_ports(plugin);
        Ports ports;
        ports.values.assign(n_ports, 0.0f);
        std::vector<float> mins(n_ports), maxs(n_ports), defs(n_ports);
        lilv_plugin_get_port_ranges_float(plugin, mins.data(), maxs.data(), defs.data());
        LilvNode* control = lilv_new_uri(world, LV2_CORE__ControlPort);
        LilvNode* audio = lilv_new_uri(world, LV2_CORE__AudioPort);
        LilvNode* atom_port = lilv_new_uri(world, LV2_ATOM__AtomPort);
        LilvNode* input = lilv_new_uri(world, LV2_CORE__InputPort);
        std::vector<float> left(max_block), right(max_block);
        const size_t atom_capacity = 65536;
        std::vector<uint64_t> atom_in(atom_capacity / 8), atom_out(atom_capacity / 8);
        int audio_seen = 0;
        uint32_t atom_in_index = UINT32_MAX, atom_out_index = UINT32_MAX;
        for (uint32_t i = 0; i < n_ports; ++i) {
            const LilvPort* port = lilv_plugin_get_port_by_index(plugin, i);
            std::string symbol = lilv_node_as_string(lilv_port_get_symbol(plugin, port));
            if (lilv_port_is_a(plugin, port, control)) {
                ports.index[symbol] = i;
                ports.values[i] = std::isnan(defs[i]) ? 0.0f : defs[i];
                lilv_instance_connect_port(instance, i, &ports.values[i]);
            } else if (lilv_port_is_a(plugin, port, audio)) {
                lilv_instance_connect_port(instance, i, audio_seen++ == 0 ? left.data() : right.data());
            } else if (lilv_port_is_a(plugin, port, atom_port)) {
                if (lilv_port_is_a(plugin, port, input)) {
                    atom_in_index = i;
                    lilv_instance_connect_port(instance, i, atom_in.data());
                } else {
                    atom_out_index = i;
                    lilv_instance_connect_port(instance, i, atom_out.data());
                }
            } else {
                lilv_instance_connect_port(instance, i, nullptr);
            }
        }
        if (atom_in_index == UINT32_MAX || audio_seen != 2) throw std::runtime_error("unexpected ports");
        auto port_of = [&](const std::string& name) -> float& {
            auto it = ports.index.find(name);
            if (it == ports.index.end()) throw std::runtime_error("the plugin has no control port " + name);
            return ports.values[it->second];
        };
        std::pair<Ports*, LV2_URID> state_ctx{&ports, atom_float};
        LV2_URID midi_event = map.map(map.handle, LV2_MIDI__MidiEvent);
        LV2_URID sequence = map.map(map.handle, LV2_ATOM__Sequence);
        LV2_URID chunk = map.map(map.handle, LV2_ATOM__Chunk);

        if (!o.state_in.empty()) {
            std::vector<unsigned char> text = host::read_file(o.state_in);
            text.push_back(0);
            LilvState* st = lilv_state_new_from_string(world, &map, reinterpret_cast<const char*>(text.data()));
            if (!st) throw std::runtime_error("cannot parse state " + o.state_in);
            lilv_state_restore(st, instance, set_port_value, &state_ctx, 0, features);
            lilv_state_free(st);
        }
        if (o.offline) port_of("offline") = 1.0f;
        for (const auto& [name, value] : o.params) port_of(name) = float(value);
        lilv_instance_activate(instance);
        host::sleep_s(o.warmup);

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
            // the block's MIDI as an atom sequence; its parameters on the control ports
            auto* seq = reinterpret_cast<LV2_Atom_Sequence*>(atom_in.data());
            seq->atom.type = sequence;
            seq->atom.size = sizeof(LV2_Atom_Sequence_Body);
            seq->body.unit = 0;
            seq->body.pad = 0;
            for (; next_event < o.events.size() && o.events[next_event].frame < pos + n; ++next_event) {
                const host::Event& e = o.events[next_event];
                if (e.is_param) {
                    port_of(e.name) = float(e.value);
                    continue;
                }
                struct {
                    LV2_Atom_Event ev;
                    uint8_t bytes[8];
                } item{};
                item.ev.time.frames = std::max(0L, e.frame - pos);
                item.ev.body.type = midi_event;
                item.ev.body.size = uint32_t(e.size);
                std::memcpy(item.bytes, e.bytes, size_t(e.size));
                uint32_t total = uint32_t(sizeof(LV2_Atom_Event) + lv2_atom_pad_size(uint32_t(e.size)));
                if (sizeof(LV2_Atom) + seq->atom.size + total > atom_capacity) throw std::runtime_error("too many events");
                std::memcpy(reinterpret_cast<char*>(&seq->body) + seq->atom.size, &item, total);
                seq->atom.size += total;
            }
            auto* outseq = reinterpret_cast<LV2_Atom*>(atom_out.data());
            outseq->type = chunk;
            outseq->size = uint32_t(atom_capacity - sizeof(LV2_Atom));
            double cpu0 = host::thread_cpu_s();
            if (rt.begin) rt.begin();
            lilv_instance_run(instance, uint32_t(n));
            if (rt.end) rt.end();
            if (!o.timing.empty()) timing.push_back(host::thread_cpu_s() - cpu0);
            out.add(left.data(), right.data(), n);
            pos += n;
            if (o.realtime) host::sleep_s(start + double(pos) / o.rate - host::now_s());
        }
        if (rt.report) rt.report(stderr);
        if (!o.timing.empty()) host::write_file(o.timing, timing.data(), timing.size() * sizeof(double));
        if (!o.state_out.empty()) {
            LilvState* st = lilv_state_new_from_instance(plugin, instance, &map, nullptr, nullptr, nullptr, nullptr,
                                                         get_port_value, &state_ctx, 0, features);
            char* text = lilv_state_to_string(world, &map, &unmap, st, "urn:vae-synth:test-state", nullptr);
            host::write_file(o.state_out, text, std::strlen(text));
            lilv_free(text);
            lilv_state_free(st);
        }
        lilv_instance_deactivate(instance);
        lilv_instance_free(instance);
        lilv_node_free(control);
        lilv_node_free(audio);
        lilv_node_free(atom_port);
        lilv_node_free(input);
        lilv_node_free(plugin_uri);
        lilv_node_free(bundle_uri);
        lilv_world_free(world);
        out.write(o.out);
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "vae-synth-lv2-host: %s\n", e.what());
        return 2;
    }
}
