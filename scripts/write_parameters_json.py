"""Write ``synth/parameters.json``, the engine's parameter table as data, from the Python table.

    python scripts/write_parameters_json.py          # (re)write the file
    python scripts/write_parameters_json.py --check  # exit 1 when the file is not up to date

The table itself is ``vae_synth.synth.params.PARAMETERS``; run this after changing it (a test
fails while the checked-in file differs). Tools outside Python (the DAW plugin's build) read
the JSON file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vae_synth.synth.atomic import write_text
from vae_synth.synth.params import parameters_json

TARGET = Path(__file__).resolve().parent.parent / "synth" / "parameters.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    args = parser.parse_args(argv)
    text = parameters_json()
    current = TARGET.read_text(encoding="utf-8") if TARGET.is_file() else None
    if args.check:
        if current != text:
            print(f"{TARGET} is not up to date: run python scripts/write_parameters_json.py",
                  file=sys.stderr)
            return 1
        return 0
    if current != text:
        write_text(TARGET, text)
        print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
