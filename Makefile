# The two commands of the README. Both are idempotent and work from a fresh clone.
#   make play            set up the player and play the bundled drums preset
#   make test            set up everything and run the whole test suite
#   make plugin          build and install the DAW plugin (VST3, CLAP, LV2; plugin/README.md)
# Pass options through ARGS, e.g. make play ARGS="--preset digits --demo"

.PHONY: play test plugin lint

play:
	scripts/setup.sh play $(ARGS)

test:
	scripts/setup.sh test $(ARGS)

plugin:
	scripts/setup.sh plugin

lint:
	.venv/bin/ruff check .
