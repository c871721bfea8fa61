#!/usr/bin/env bash
# Coverage-guided fuzzing with AFL++ (cargo-afl, on the stable toolchain) of the decoders of
# outside input: sync messages through admission, fast-path requests, document loads, catalog
# files, roster CSV files. Each crash found is copied to tests/fixtures/fuzz/TARGET/, where the
# normal test suite (tests/tests/fuzz_regressions.rs) checks it is refused without a panic.
# Exits 1 when a target crashed. Not run by CI; see docs/RELIABILITY.md.
#
#   scripts/fuzz.sh TARGET SECONDS     TARGET: sync_message fast_request document_load catalog roster_csv
#   scripts/fuzz.sh all SECONDS        each target in turn
set -euo pipefail
cd "$(dirname "$0")/.."
all_targets="sync_message fast_request document_load catalog roster_csv"
target="${1:?usage: scripts/fuzz.sh TARGET|all SECONDS}"
seconds="${2:?usage: scripts/fuzz.sh TARGET|all SECONDS}"
if [ "$target" = all ]; then targets="$all_targets"; else targets="$target"; fi
for t in $targets; do
  case " $all_targets " in *" $t "*) ;; *) echo "fuzz: unknown target $t (one of: $all_targets)"; exit 2 ;; esac
done

if ! cargo afl --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-afl (builds AFL++ once)"
  cargo install cargo-afl
fi
cargo afl config --build >/dev/null 2>&1 || true
echo "fuzz: building the instrumented targets"
cargo afl build --release --manifest-path fuzz/Cargo.toml --quiet
bin=fuzz/target/release
work=fuzz/target/afl
mkdir -p "$work/out"
"$bin/make_seeds" "$work/seeds"

export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1
status=0
for t in $targets; do
  out="$work/out/$t"
  rm -rf "$out"
  echo "fuzz: $t for ${seconds}s"
  cargo afl fuzz -V "$seconds" -i "$work/seeds/$t" -o "$out" "$bin/$t" >"$work/$t.log" 2>&1 || {
    echo "fuzz: afl-fuzz failed for $t:"; tail -20 "$work/$t.log"; status=1; continue;
  }
  stats="$out/default/fuzzer_stats"
  for k in execs_done execs_per_sec corpus_count bitmap_cvg saved_crashes saved_hangs; do
    printf '  %-14s %s\n' "$k" "$(grep -E "^$k " "$stats" | sed 's/.*: //')"
  done
  crashes=$(find "$out/default/crashes" -type f -name 'id:*' 2>/dev/null | wc -l)
  if [ "$crashes" -gt 0 ]; then
    mkdir -p "tests/fixtures/fuzz/$t"
    for f in "$out"/default/crashes/id:*; do
      name="crash-$(sha256sum "$f" | cut -c1-16)"
      cp "$f" "tests/fixtures/fuzz/$t/$name"
      echo "  crash kept as tests/fixtures/fuzz/$t/$name"
    done
    status=1
  fi
done
exit $status
