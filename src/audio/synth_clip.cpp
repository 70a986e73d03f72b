// A small procedural piece of music: kick, snare and hi-hat on a 4/4 grid, a bass line and triad chords.
// It gives `genrenet features` and `genrenet show` something musical to work on without any dataset.
#include <cmath>
#include <numbers>
#include <random>

#include <genrenet/genrenet.h>

namespace genrenet {

std::vector<float> synthesize_example_clip(double seconds, int sample_rate, std::uint32_t seed) {
  if (seconds <= 0 || seconds > 600) throw Error("example clip", "length must be in (0, 600] seconds");
  if (sample_rate < 1000 || sample_rate > 384000) throw Error("example clip", "sample rate out of range");
  const double two_pi = 2 * std::numbers::pi;
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> noise(-1.f, 1.f);
  const size_t n = static_cast<size_t>(seconds * sample_rate);
  std::vector<float> out(n, 0.f);
  const double bpm = 96 + (seed % 5) * 8;
  const double beat = 60.0 / bpm;
  // A I-vi-IV-V progression in A minor's relative key; each chord lasts one bar.
  const double roots[4] = {220.0, 174.61, 146.83, 196.0};
  const double third[4] = {1.2599, 1.2599, 1.2599, 1.2599};
  for (size_t i = 0; i < n; ++i) {
    double t = static_cast<double>(i) / sample_rate;
    double beat_pos = std::fmod(t, beat);
    int beat_index = static_cast<int>(t / beat);
    int bar = (beat_index / 4) % 4;
    double root = roots[bar];
    double v = 0;
    // Chords: a soft triad with a little vibrato.
    double env_chord = 0.6 + 0.4 * std::exp(-3 * std::fmod(t, 4 * beat));
    for (double ratio : {1.0, third[bar], 1.4983}) v += 0.08 * env_chord * std::sin(two_pi * root * ratio * t);
    // Bass on every beat, one octave below.
    v += 0.25 * std::exp(-6 * beat_pos) * std::sin(two_pi * root / 2 * t);
    // Kick on beats 1 and 3: a falling sine.
    if (beat_index % 2 == 0) v += 0.6 * std::exp(-18 * beat_pos) * std::sin(two_pi * (50 + 100 * std::exp(-30 * beat_pos)) * beat_pos);
    // Snare on 2 and 4: noise with a body.
    if (beat_index % 2 == 1) v += 0.3 * std::exp(-20 * beat_pos) * (noise(rng) + 0.5 * std::sin(two_pi * 190 * beat_pos));
    // Hi-hat on every eighth note: short bright noise.
    double eighth = std::fmod(t, beat / 2);
    v += 0.06 * std::exp(-80 * eighth) * noise(rng);
    out[i] = static_cast<float>(std::tanh(v));
  }
  return out;
}

}  // namespace genrenet
