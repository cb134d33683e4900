"""Run every benchmark of ``benchmarks/`` and, with ``--write-docs``, write their sections of ``docs/benchmarks.md``.

    python benchmarks/run_all.py --write-docs                  # everything, full sizes: a quiet machine, an hour or more
    python benchmarks/run_all.py --quick --only butd_counter_hebb ngc_settling --json out.json   # tests the machinery

Every script measures through ``benchmarks/_harness.py`` (interleaved rounds of pinned worker
processes; medians and interquartile ranges of per-round ratios; peak RSS of each process) and
returns its section; ``--write-docs`` replaces each script's section of the docs (a section whose
script was not run stays as it is). The common options (``--rounds``, ``--warmup-rounds``,
``--calls``, ``--threads``, ``--gap``, ``--backend``, ``--quick``) are passed to every script;
``--pcx-python`` reaches ``peers.py`` through ``$PCX_PYTHON``.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

import _harness as h

SCRIPTS = ("backends", "cbl_throughput", "convrnn_step_time", "ngc_settling", "butd_counter_hebb", "export_latency", "peers",
           "scaling")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=SCRIPTS, default=list(SCRIPTS), help="run these scripts only")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--warmup-rounds", type=int)
    parser.add_argument("--calls", type=int)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--gap", type=float)
    parser.add_argument("--backend", choices=h.BACKENDS)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 2 rounds: tests the machinery, numbers mean nothing")
    parser.add_argument("--write-docs", action="store_true", help=f"replace each script's section of {h.DOCS.relative_to(h.ROOT)}")
    parser.add_argument("--json", type=Path, default=None, help="write every script's results here")
    parser.add_argument("--pcx-python", default=None, help="interpreter of a venv with pcx 0.6.3 (peers.py)")
    args = parser.parse_args(argv)
    if args.quick and args.write_docs:
        parser.error("--quick results are not written to the docs")
    if args.pcx_python:
        os.environ["PCX_PYTHON"] = args.pcx_python
    common = [f"--{name.replace('_', '-')}={value}" for name, value in vars(args).items()
              if name in ("rounds", "warmup_rounds", "calls", "threads", "gap", "backend") and value is not None]
    common += ["--quick"] if args.quick else []
    sections, failed = {}, []
    for name in args.only:
        print(f"== {name}", file=sys.stderr, flush=True)
        try:
            section = importlib.import_module(name).main(common)
        except (Exception, SystemExit) as err:  # one script's failure does not stop the others
            traceback.print_exc()
            failed.append(f"{name}: {type(err).__name__}: {err}")
            continue
        sections[name] = section
        if args.write_docs:
            h.write_section(section.title, section.markdown)
            print(f"wrote the section '{section.title}' of {h.DOCS}", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps({name: {"title": s.title, "results": s.results, "machine": s.machine}
                                         for name, s in sections.items()}, indent=1))
    for line in failed:
        print(f"FAILED {line}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
