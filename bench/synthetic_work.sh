# Sourced by the bench/run_*.sh scripts that train on synthetic clips (run from the repository root):
#   synthetic_work WORK_DIR PER_CLASS
# sets $work to WORK_DIR, or to a temporary folder removed at exit when WORK_DIR is empty; prints a line
# naming the machine; writes PER_CLASS synthetic 4-s clips per genre to $work/data (once) and fills the
# feature cache $work/cache.
synthetic_work() {
  [ -x build/genrenet ] || scripts/build.sh
  work=${1:-$(mktemp -d)}
  [ -n "${1:-}" ] || trap 'rm -rf "$work"' EXIT
  echo "# $(date -u +%F) $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
  [ -d "$work/data" ] || build/genrenet synth --out "$work/data" --per-class "$2" --seconds 4 --seed 1 > /dev/null
  build/genrenet prepare --data "$work/data" --cache "$work/cache" > /dev/null
}

# For the benchmarks that need some model and not a good one (run_serve.sh, run_predict.sh):
#   throwaway_model DIR
# trains a paper-shaped ResNet-18 (128x1024 inputs) for one epoch on 10 synthetic 2-s clips per genre
# under DIR and prints the model file's path.
throwaway_model() {
  build/genrenet synth --out "$1/synth" --per-class 10 --seconds 2 > /dev/null
  build/genrenet train --data "$1/synth" --out "$1/run" --cache "$1/cache" --epochs 1 > /dev/null
  echo "$1/run/best.safetensors"
}
