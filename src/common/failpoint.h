// Failure injection for the tests of code that writes into users' files: a named point in such code asks
// whether it should fail here, as a kill -9 or a full disk would make it fail. Off unless the environment
// variable GENRENET_FAILPOINT is set, so it costs one getenv at each point (a few per file written).
//
//   GENRENET_FAILPOINT=POINT:ACTION[:SUBSTRING]
//     POINT      the name given to failpoint() below (docs/RELIABILITY.md lists those of `genrenet tag`)
//     ACTION     kill   — SIGKILL this process at once (no destructor, no flush: what kill -9 does)
//                enospc — the I/O at this point fails with "No space left on device"
//                pause  — sleep two seconds (to hold a lock while another process starts)
//     SUBSTRING  only when the subject (a file name) contains it; every subject when absent
#pragma once

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <string>
#include <string_view>
#include <thread>

namespace genrenet {

// What happens at `point` for `subject`: kills or pauses here, or returns the errno the I/O there must fail
// with (0: go on as normal).
inline int failpoint(std::string_view point, const std::string& subject) {
  const char* spec = std::getenv("GENRENET_FAILPOINT");
  if (!spec || !*spec) return 0;
  const std::string_view s(spec);
  const size_t colon = s.find(':');
  if (colon == std::string_view::npos || s.substr(0, colon) != point) return 0;
  std::string_view action = s.substr(colon + 1);
  if (const size_t c2 = action.find(':'); c2 != std::string_view::npos) {
    if (subject.find(action.substr(c2 + 1)) == std::string::npos) return 0;
    action = action.substr(0, c2);
  }
  if (action == "kill") std::raise(SIGKILL);
  if (action == "pause") std::this_thread::sleep_for(std::chrono::seconds(2));
  return action == "enospc" ? ENOSPC : 0;
}

}  // namespace genrenet
