#!/usr/bin/env bash
# Set up sub3coach in ./.venv and run the main job on an example run:
# write a realistic example run, import it into a library, print its summary and plot it,
# then predict its heart-rate curve with the bundled model; then import a 16-week training log
# and plan the next workout and the coming week (bundled pace model).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q torch==2.13.0          # CPU build; satisfies torch>=2.4 in pyproject
.venv/bin/python -m pip install -q -e '.[test]'
export SUB3_LIBRARY="${SUB3_LIBRARY:-$PWD/out/library.duckdb}"
mkdir -p out
.venv/bin/sub3 example out/example-run.gpx --minutes 45 --pace 5:00
.venv/bin/sub3 import out/example-run.gpx
.venv/bin/sub3 runs
.venv/bin/sub3 show latest --plot out/example-run.png
# heart rate: for the recorded run, and for a planned 10 km route at 5:00/km (bundled model)
.venv/bin/sub3 hr predict out/example-run.gpx --plot out/example-hr.png
.venv/bin/sub3 example out/example-route.gpx --course-km 10
.venv/bin/sub3 hr predict --course out/example-route.gpx --pace 5:00 --plot out/route-hr.png
# next workout: a generated 16-week training log (5 runs a week) into the library, then the planner
.venv/bin/sub3 example out/history.csv --weeks 16 --pace 5:30
.venv/bin/sub3 import out/history.csv
.venv/bin/sub3 plan next
.venv/bin/sub3 plan week
echo "library: $SUB3_LIBRARY; figures in ./out"
