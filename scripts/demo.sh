#!/usr/bin/env bash
# Set up (scripts/setup.sh), then run the demo (demo/demo.ts). Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
exec node --import tsx demo/demo.ts
