"""Pin the shipped hub folders: write ``topdown_zoo/hub/pins.json``, the sha256 of every file of
every folder in ``hub/`` (see ``topdown_zoo/hub/pins.py`` and the trust model in docs/hub.md).

    python tools/pin_hub.py            # rewrite the pins from hub/
    python tools/pin_hub.py --check    # exit 1 (naming the entries) if the pins are out of date

Run it after any deliberate change to a shipped folder (new weights, ``tools/remeasure_shipped.py``);
``tests/test_reliability_inputs.py`` fails until the pins match the folders again. Each folder's
``SHA256SUMS`` must hold and list every file of the folder.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from topdown_zoo.errors import TopdownZooError  # noqa: E402
from topdown_zoo.hub.pins import PINS_FILE, compute_pins, load_pins, render_pins  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--hub", default=str(ROOT / "hub"), help="the folder of shipped hub folders (default hub/)")
    parser.add_argument("--out", default=str(PINS_FILE), help="the pin file to write (default the package's)")
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 if the pins are out of date")
    args = parser.parse_args(argv)
    try:
        pins = compute_pins(args.hub)
    except TopdownZooError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = Path(args.out)
    if args.check:
        current = load_pins.__wrapped__(out)
        stale = sorted(name for name in set(pins) | set(current) if pins.get(name) != current.get(name))
        if stale:
            print(f"the pins in {out} are out of date for: {', '.join(stale)}; run python tools/pin_hub.py",
                  file=sys.stderr)
            return 1
        print(f"{len(pins)} entries pinned; {out} is up to date")
        return 0
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        handle.write(render_pins(pins))
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(tmp, 0o644)
    os.replace(tmp, out)
    print(f"pinned {sum(len(files) for files in pins.values())} files of {len(pins)} entries in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
