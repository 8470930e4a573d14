// DPF's description of the plugin: one instrument, stereo out, MIDI in, state (the preset).
#ifndef DISTRHO_PLUGIN_INFO_H_INCLUDED
#define DISTRHO_PLUGIN_INFO_H_INCLUDED

#define DISTRHO_PLUGIN_NAME "vae-synth"
#define DISTRHO_PLUGIN_URI "urn:vae-synth:instrument"
#define DISTRHO_PLUGIN_CLAP_ID "org.vae-synth.instrument"
#define DISTRHO_PLUGIN_BRAND_ID Vaes
#define DISTRHO_PLUGIN_UNIQUE_ID Vsyn

#define DISTRHO_PLUGIN_HAS_UI 0
#define DISTRHO_PLUGIN_IS_RT_SAFE 1
#define DISTRHO_PLUGIN_IS_SYNTH 1
#define DISTRHO_PLUGIN_NUM_INPUTS 0
#define DISTRHO_PLUGIN_NUM_OUTPUTS 2
#define DISTRHO_PLUGIN_WANT_MIDI_INPUT 1
#define DISTRHO_PLUGIN_WANT_STATE 1
#define DISTRHO_PLUGIN_WANT_FULL_STATE 1
#define DISTRHO_PLUGIN_WANT_LATENCY 0

#define DISTRHO_PLUGIN_LV2_CATEGORY "lv2:InstrumentPlugin"
#define DISTRHO_PLUGIN_VST3_CATEGORIES "Instrument|Drum|Stereo"
#define DISTRHO_PLUGIN_CLAP_FEATURES "instrument", "drum-machine", "stereo"

#endif
