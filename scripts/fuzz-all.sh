#!/usr/bin/env bash
# Runs every fuzz target in the module for $1 (default 10s) each.
set -euo pipefail
cd "$(dirname "$0")/.."
t=${1:-10s}
grep -rl --include='*_test.go' '^func Fuzz' . | while read -r f; do
  dir=$(dirname "$f")
  for name in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed 's/^func //'); do
    echo "== $dir $name ($t)"
    go test -run '^$' -fuzz "^${name}\$" -fuzztime "$t" "$dir"
  done
done
