#!/bin/bash
# A catalogue embedded across a Slurm job array, then merged into one index (docs/LIBRARY.md).
#
#   sbatch --array=0-15 scripts/slurm_catalogue.sh embed MODEL MUSIC_DIR STORES_DIR
#   sbatch --dependency=afterok:<the array's job id> scripts/slurm_catalogue.sh merge STORES_DIR INDEX_DIR [--ivf --pq 64]
#
# Each array task takes its part from SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT (no --shard needed) and
# writes STORES_DIR/shard-K-of-N; a task that is killed or preempted and requeued goes on from its store.
#SBATCH --job-name=genrenet-catalogue
#SBATCH --cpus-per-task=8
#SBATCH --mem=16G
#SBATCH --time=12:00:00
#SBATCH --requeue
set -euo pipefail
genrenet=${GENRENET:-genrenet}
case "${1:-}" in
  embed)
    model=$2 music=$3 stores=$4
    exec "$genrenet" embed --model "$model" --out "$stores" --threads "${SLURM_CPUS_PER_TASK:-0}" "$music" ;;
  merge)
    stores=$2 index=$3
    shift 3
    exec "$genrenet" index merge "$stores" --out "$index" "$@" ;;
  *)
    echo "usage: $0 embed MODEL MUSIC_DIR STORES_DIR | merge STORES_DIR INDEX_DIR [index options]" >&2
    exit 2 ;;
esac
