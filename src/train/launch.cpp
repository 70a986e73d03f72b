// `genrenet train --nproc N`: the workers of a one-machine data-parallel run, as torchrun would start them.
// Each worker is this same program and command line with torchrun's variables set; it finds the
// launcher's --nproc ignored because WORLD_SIZE is already set.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <thread>

#include <genrenet/distributed.h>

#include "common/log.h"
#include "common/stop_signals.h"

namespace genrenet {
namespace {

// A TCP port on 127.0.0.1 that nothing listens on now (the kernel's choice).
int free_local_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw Error("nproc", "cannot open a socket to find a free port");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  ::close(fd);
  if (!ok) throw Error("nproc", "cannot find a free port on 127.0.0.1: set MASTER_PORT");
  return ntohs(a.sin_port);
}

std::vector<std::string> own_command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> args;
  for (size_t i = 0; i < all.size();) {
    size_t end = all.find('\0', i);
    if (end == std::string::npos) end = all.size();
    args.push_back(all.substr(i, end - i));
    i = end + 1;
  }
  return args;
}

std::string describe_status(int status) {
  if (WIFSIGNALED(status)) return std::string("was killed by signal ") + std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) + ")";
  return "exited with status " + std::to_string(WEXITSTATUS(status));
}

int exit_code_of(int status) { return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status); }

// Sends `sig` to every worker still running (a finished one's slot holds -1).
void signal_workers(const std::vector<pid_t>& pids, int sig) {
  for (pid_t p : pids)
    if (p > 0) ::kill(p, sig);
}

// Starts worker `rank` of `nproc`: this program and command line with torchrun's variables set.
pid_t start_worker(int rank, int nproc, const std::vector<std::string>& args, const std::string& addr,
                   const std::string& port) {
  const pid_t pid = ::fork();
  if (pid < 0) throw Error("nproc", std::string("cannot start a worker (") + std::strerror(errno) + ")");
  if (pid > 0) return pid;
  // The workers form their own process group, so a Ctrl-C reaches them once, passed on by the
  // launcher; and they are stopped if the launcher dies.
  ::setpgid(0, 0);
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  ::setenv("RANK", std::to_string(rank).c_str(), 1);
  ::setenv("LOCAL_RANK", std::to_string(rank).c_str(), 1);
  ::setenv("WORLD_SIZE", std::to_string(nproc).c_str(), 1);
  ::setenv("LOCAL_WORLD_SIZE", std::to_string(nproc).c_str(), 1);
  ::setenv("MASTER_ADDR", addr.c_str(), 1);
  ::setenv("MASTER_PORT", port.c_str(), 1);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  ::execv("/proc/self/exe", argv.data());
  // The child of fork(): straight to stderr, not through the log callback (another thread may hold its lock).
  std::fprintf(stderr, "error: worker %d: cannot start %s (%s)\n", rank, args[0].c_str(), std::strerror(errno));
  ::_exit(127);
}

// Waits for every worker, passing on Ctrl-C and SIGTERM; after the first failure the others get
// `grace_seconds` to stop, then SIGTERM, then SIGKILL. Returns the first failure's exit code (0: none).
int supervise_workers(std::vector<pid_t>& pids, double grace_seconds, StopSignals& signals) {
  using Clock = std::chrono::steady_clock;
  int running = static_cast<int>(pids.size()), first_failure = 0;
  Clock::time_point failed_at{};
  bool terminated = false, killed = false, interrupted = false;
  while (running > 0) {
    if (const int sig = signals.take()) {
      interrupted = true;
      signal_workers(pids, sig);
    }
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      const auto it = std::find(pids.begin(), pids.end(), pid);
      if (it == pids.end()) continue;
      *it = -1;
      --running;
      const int code = exit_code_of(status);
      if (code != 0 && first_failure == 0) {
        first_failure = code;
        failed_at = Clock::now();
        // After a Ctrl-C the workers stop by themselves (status 130): that is no failure to report.
        if (running > 0 && !interrupted)
          logf(LogLevel::Error, "worker %d (pid %d) %s; the other workers get %.0f s to stop",
               static_cast<int>(it - pids.begin()), pid, describe_status(status).c_str(), grace_seconds);
      }
      continue;
    }
    if (first_failure != 0) {
      const double waited = std::chrono::duration<double>(Clock::now() - failed_at).count();
      if (!terminated && waited > grace_seconds) {
        logf(LogLevel::Error, "%d worker(s) still running %.0f s after a failure: stopping them", running, waited);
        signal_workers(pids, SIGTERM);
        terminated = true;
      } else if (!killed && waited > grace_seconds + 10) {
        signal_workers(pids, SIGKILL);
        killed = true;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return first_failure;
}

}  // namespace

int launch_local_workers(int nproc, double grace_seconds) {
  if (nproc < 1 || nproc > 1024) throw Error("nproc", "must be in [1, 1024]");
  if (distributed_env().active()) throw Error("nproc", "this process is already a worker of a data-parallel run");
  const std::vector<std::string> args = own_command_line();
  if (args.empty()) throw Error("nproc", "cannot read this program's command line from /proc/self/cmdline");
  const std::string addr = std::getenv("MASTER_ADDR") ? std::getenv("MASTER_ADDR") : "127.0.0.1";
  const std::string port = std::getenv("MASTER_PORT") ? std::getenv("MASTER_PORT") : std::to_string(free_local_port());
  std::fflush(stdout);
  std::fflush(stderr);
  std::vector<pid_t> pids(nproc, -1);
  for (int r = 0; r < nproc; ++r) pids[r] = start_worker(r, nproc, args, addr, port);

  StopSignals signals(StopSignals::Second::PassOn);
  return supervise_workers(pids, grace_seconds, signals);
}

}  // namespace genrenet
