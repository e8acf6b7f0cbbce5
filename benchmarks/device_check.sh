#!/usr/bin/env bash
# The device check (benchmarks/device_check.py): runs the library from src/ with the Python and
# torch it finds, installs nothing.  Usage: bash benchmarks/device_check.sh [--quick] [--only a,b] OUT
# Python: $PYTHON if set, else the project's .venv when there is one, else python3.
set -u
cd "$(dirname "$0")/.." || exit 2
if [ -n "${PYTHON:-}" ]; then
    py=$PYTHON
elif [ -x .venv/bin/python ]; then
    py=.venv/bin/python
else
    py=$(command -v python3 || command -v python) || { echo "device_check: no python3 on PATH" >&2; exit 2; }
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" KEDRO_DISABLE_TELEMETRY=true DO_NOT_TRACK=1
exec "$py" benchmarks/device_check.py "$@"
