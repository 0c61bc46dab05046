#!/usr/bin/env bash
# Set up sub3coach in ./.venv and run the main job on an example run:
# write a realistic example run, import it into a library, print its summary and plot it,
# then predict its heart-rate curve with the bundled model; then import a 16-week training log
# and plan the next workout and the coming week (bundled pace model).
#
# Safe to run again: the install is skipped while pyproject.toml is unchanged, re-imports add
# nothing, and `show latest` shows the latest *recorded* run (the log's rows have no samples).
# SUB3_QUICKSTART_PYTHON=/path/to/python uses that interpreter (sub3coach importable) instead
# of creating ./.venv (the tests do this).
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n==> %s\n' "$*"; }
if [ -n "${SUB3_QUICKSTART_PYTHON:-}" ]; then
    PY="$SUB3_QUICKSTART_PYTHON"
else
    PY=.venv/bin/python
    stamp=.venv/.sub3-installed
    want="$(sha256sum pyproject.toml | cut -c1-64)"
    if [ ! -x "$PY" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        step "creating ./.venv"
        python3 -m venv .venv
        "$PY" -m pip install -q --upgrade pip
        step "installing PyTorch 2.13.0 (CPU build, about 200 MB: a few minutes)"
        "$PY" -m pip install --progress-bar on torch==2.13.0          # satisfies torch>=2.4 in pyproject
        step "installing sub3coach and its dependencies"
        "$PY" -m pip install --progress-bar on -e '.[test]' | grep -v '^Requirement already satisfied' || true
        "$PY" -c "import sub3coach" || { echo "quickstart: the install failed (see above)" >&2; exit 1; }
        echo "$want" > "$stamp"
    else
        step "./.venv is up to date (delete .venv/.sub3-installed to reinstall)"
    fi
fi
sub3() { "$PY" -m sub3coach.cli "$@"; }
export SUB3_LIBRARY="${SUB3_LIBRARY:-$PWD/out/library.duckdb}"
mkdir -p out
step "an example run: write, import, list, show and plot it"
sub3 example out/example-run.gpx --minutes 45 --pace 5:00
sub3 import out/example-run.gpx
sub3 runs
sub3 show latest --plot out/example-run.png
step "heart rate (bundled model): the run, and a 10 km route at 5:00/km"
sub3 hr predict out/example-run.gpx --plot out/example-hr.png
sub3 example out/example-route.gpx --course-km 10
sub3 hr predict --course out/example-route.gpx --pace 5:00 --plot out/route-hr.png
step "next workout: a generated 16-week training log, then the planner"
sub3 example out/history.csv --weeks 16 --pace 5:30
sub3 import out/history.csv
sub3 plan next
sub3 plan week
echo "library: $SUB3_LIBRARY"; echo "figures in ./out"
