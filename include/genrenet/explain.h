// genrenet/explain.h — why the model names a genre (Classifier::explain): the options, the explanation and
// its picture. No LibTorch headers.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <genrenet/classify.h>
#include <genrenet/genrenet.h>

namespace genrenet {

// Why the model names a genre: Grad-CAM (Selvaraju et al., 2017) of its last convolutional stage, for every
// window of the audio (as classify cuts them), upsampled to the window's mel x frame grid and averaged where
// windows overlap. Computed in fp32 whatever the classifier's precision.
struct ExplainOptions {
  std::string genre;      // the genre to explain; "": the most probable
  WindowOptions windows;  // where the windows lie (windows = false is treated as true: every part is mapped)
};

struct WindowExplanation {
  double start_seconds = 0, end_seconds = 0;
  std::vector<float> time_mass;  // the share of the window's map in each second of it (sums to 1; 0s if empty)
  std::vector<float> band_mass;  // the share in each frequency band of Explanation::bands (sums to 1)
};

struct Explanation {
  std::string genre;    // the genre explained
  float probability = 0;  // its probability for the whole audio (fp32, windows averaged)
  Spectrogram log_mel;  // the whole audio's standardised log-mel, as plotted
  Spectrogram map;      // the same shape, in [0, 1]: 1 where the evidence for `genre` is strongest
  std::vector<std::pair<double, double>> bands;  // low and high edge in Hz of each band of band_mass
  std::vector<WindowExplanation> windows;
  double duration_seconds = 0;
  // genre, probability, duration_s, bands, windows (each with start_s, end_s, time_mass, band_mass).
  std::string to_json() const;
};

// An explanation as a picture (PNG bytes): the log-mel in grey, the map over it in magma, time in seconds,
// frequency in Hz, a colour bar, and the genre with its probability in the title.
std::string explanation_png(const Explanation& e, const FeatureOptions& features, const FigureOptions& fig = {});

}  // namespace genrenet
