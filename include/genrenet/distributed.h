// genrenet's data-parallel training over processes and machines: who this process is, and launching workers on
// one machine (src/train/distributed.cpp, launch.cpp; docs/DISTRIBUTED.md). Needs no LibTorch headers.
#pragma once

#include <string>

#include <genrenet/genrenet.h>

namespace genrenet {

// ---------------------------------------------------------------------------------------------------------
// Data-parallel training over processes and machines (src/train/distributed.cpp, launch.cpp;
// docs/DISTRIBUTED.md)
// ---------------------------------------------------------------------------------------------------------

// This process's place in a data-parallel run. train() joins the run when world_size > 1: rendezvous
// through c10d's TCPStore at master_addr:master_port (served by rank 0), gradients all-reduced by
// c10d's Reducer over Gloo (NCCL with CUDA builds), rank 0 alone writing the run folder.
struct DistributedEnv {
  int rank = 0, world_size = 1;
  int local_rank = 0, local_world_size = 1;  // among the processes of this machine
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  bool active() const { return world_size > 1; }
  // torchrun's variables RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT, or
  // where RANK is unset, Slurm's SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, SLURM_NTASKS_PER_NODE. None
  // of them: a single process. A malformed or inconsistent value is an Error naming the variable.
  static DistributedEnv from_environment();
};
// The environment of this process, read once.
const DistributedEnv& distributed_env();
// Rank 0, or a process that is not part of a data-parallel run: the one that prints and writes files.
bool is_main_process();

// Runs this very command line `nproc` times as the workers of a one-machine data-parallel run (RANK,
// LOCAL_RANK, WORLD_SIZE = nproc, MASTER_ADDR 127.0.0.1 and a free MASTER_PORT unless set) and waits.
// Ctrl-C and SIGTERM are passed on (the workers stop together after a step); when a worker fails, the
// others get `grace_seconds` to stop by themselves and are then killed. Returns 0 when every worker
// succeeded, else the exit status of the first that failed (128 + signal when killed).
int launch_local_workers(int nproc, double grace_seconds = 30);

}  // namespace genrenet
