"""Shared pytest setup. Fixtures live in plugin modules beside this file, one per area:

- ``fixtures_jack``:   the headless real-time rig (real JACK server, recorder, MIDI sender)
- ``fixtures_preset``: a real preset, trained briefly and exported through the project's pipeline
"""

pytest_plugins = ["fixtures_jack", "fixtures_preset"]
