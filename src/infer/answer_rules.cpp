// The rules of an answer, apart from the model (also compiled into the fuzz targets of the HTTP handlers):
// which windows are valid, and when a classification is "unknown".
#include <cstdio>
#include <string>

#include <genrenet/classifier.h>

namespace genrenet {

void WindowOptions::validate() const {
  if (!(window_seconds >= 1 && window_seconds <= 900))
    throw Error("window", "must be in [1, 900] seconds, got " + std::to_string(window_seconds));
  if (!(hop_seconds > 0 && hop_seconds <= 900))
    throw Error("hop", "must be in (0, 900] seconds, got " + std::to_string(hop_seconds));
  // The cost of a classification grows with the windows' overlap: bounded, so that a tiny hop cannot
  // make one request cost thousands of inferences (hop=1e-300 made a 30-s clip take 18 s).
  if (hop_seconds < window_seconds / kMaxOverlap)
    throw Error("hop", "must be at least window/" + std::to_string(kMaxOverlap) + " = " +
                           std::to_string(window_seconds / kMaxOverlap) + " seconds (at most " +
                           std::to_string(kMaxOverlap) + " windows overlap), got " + std::to_string(hop_seconds));
}

void UnknownOptions::validate() const {
  if (!(min_confidence >= 0 && min_confidence <= 1))
    throw Error("min_confidence", "must be in [0, 1], got " + std::to_string(min_confidence));
}

void Classification::decide(const UnknownOptions& u) {
  u.validate();
  genre = ranked.empty() ? "" : ranked[0].genre;
  unknown_reason.clear();
  char why[160];
  if (!ranked.empty() && u.min_confidence > 0 && ranked[0].probability < u.min_confidence) {
    std::snprintf(why, sizeof why, "confidence %.3f is below %.3f", ranked[0].probability, u.min_confidence);
    unknown_reason = why;
  } else if (u.out_of_distribution && out_of_distribution()) {
    std::snprintf(why, sizeof why, "out of distribution: energy %.3f is above the model's threshold %.3f", energy,
                  *energy_threshold);
    unknown_reason = why;
  }
  if (!unknown_reason.empty()) genre = kUnknown;
}

}  // namespace genrenet
