// Synthetic genres: ten small procedural styles named after GTZAN's genres, for tests and the demo. Each
// style fixes ranges — tempo, drum pattern, bass line, harmony, timbre, distortion, noise colour — and
// every clip draws its own values inside them (key, tempo, pattern variations, levels, melody), so a
// network has to learn several cues together rather than one.
#include <cmath>
#include <numbers>
#include <random>

#include <genrenet/data.h>

namespace genrenet {
namespace {

enum Wave { Sine, Saw, Square, Triangle };
enum BassLine { NoBass, OnBeats, Walking, Octaves, Offbeat, Sub };
enum Harmony { Major, Minor, Dominant7, Major7, Power };
enum ChordRhythm { Sustained, Skank, Stabs, NoChords };

struct Style {
  const char* name;
  double bpm_lo, bpm_hi;
  unsigned kick, snare, hat;  // 16-step patterns, bit i = step i
  double hat_decay;
  BassLine bass;
  Wave bass_wave;
  Harmony harmony;
  ChordRhythm chords;
  Wave chord_wave;
  double chord_attack;        // seconds
  Wave lead_wave;
  double lead_level;
  double drive;               // tanh distortion; 1 = clean
  double noise_level;
  int noise_colour;           // 0 white, 1 pink-ish, 2 brown
  double brightness;          // one-pole low-pass coefficient on the mix (1 = open)
};

constexpr unsigned kFour = 0x1111, kBackbeat = 0x1010, kEighths = 0x5555, kSixteenths = 0xffff;

const Style kStyles[10] = {
    {"blues", 66, 92, 0x0101, kBackbeat, 0x9249, 30, Walking, Triangle, Dominant7, Sustained, Saw, 0.02, Square, 0.10, 1.5, 0.004, 1, 0.35},
    {"classical", 56, 84, 0, 0, 0, 40, OnBeats, Sine, Major, Sustained, Triangle, 0.25, Sine, 0.16, 1.0, 0.002, 2, 0.20},
    {"country", 100, 128, 0x0101, kBackbeat, kEighths, 50, Octaves, Triangle, Major, Stabs, Square, 0.005, Triangle, 0.12, 1.0, 0.003, 0, 0.55},
    {"disco", 112, 128, kFour, kBackbeat, 0x4444, 25, Octaves, Saw, Minor, Stabs, Saw, 0.01, Square, 0.08, 1.2, 0.003, 0, 0.70},
    {"hiphop", 80, 98, 0x0429, kBackbeat, kEighths, 70, Sub, Sine, Minor, Sustained, Sine, 0.05, Triangle, 0.07, 1.3, 0.006, 2, 0.30},
    {"jazz", 110, 180, 0x0001, 0x0808, 0x9249, 18, Walking, Sine, Major7, Stabs, Triangle, 0.01, Sine, 0.12, 1.0, 0.008, 1, 0.40},
    {"metal", 150, 200, kSixteenths, kBackbeat, kEighths, 40, Octaves, Saw, Power, Sustained, Saw, 0.003, Saw, 0.05, 6.0, 0.02, 0, 0.85},
    {"pop", 98, 124, 0x0101, kBackbeat, kEighths, 45, OnBeats, Square, Major, Stabs, Saw, 0.01, Square, 0.15, 1.1, 0.002, 0, 0.65},
    {"reggae", 66, 84, 0x0100, 0x0100, 0x4444, 35, Offbeat, Sine, Minor, Skank, Square, 0.003, Triangle, 0.06, 1.0, 0.004, 1, 0.45},
    {"rock", 108, 142, 0x0505, kBackbeat, kEighths, 45, OnBeats, Saw, Power, Sustained, Saw, 0.005, Saw, 0.08, 3.0, 0.008, 0, 0.75},
};

double osc(Wave w, double phase) {  // phase in cycles
  double f = phase - std::floor(phase);
  switch (w) {
    case Sine: return std::sin(2 * std::numbers::pi * f);
    case Saw: return 2 * f - 1;
    case Square: return f < 0.5 ? 1.0 : -1.0;
    case Triangle: return 4 * std::fabs(f - 0.5) - 1;
  }
  return 0;
}

double midi_hz(double note) { return 440.0 * std::pow(2.0, (note - 69) / 12.0); }

std::vector<int> chord_intervals(Harmony h) {
  switch (h) {
    case Major: return {0, 4, 7};
    case Minor: return {0, 3, 7};
    case Dominant7: return {0, 4, 7, 10};
    case Major7: return {0, 4, 7, 11, 14};
    case Power: return {0, 7, 12};
  }
  return {0};
}

}  // namespace

const std::vector<std::string>& synthetic_genres() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (auto& s : kStyles) v.push_back(s.name);
    return v;
  }();
  return names;
}

namespace {

// The bass at time t (tb: since the beat; walk_step: the walking bass's interval for this beat).
double bass_line(const Style& st, double t, double tb, double beat, int chord_root, int walk_step, int s16) {
  switch (st.bass) {
    case NoBass: return 0;
    case OnBeats: return std::exp(-4 * tb) * osc(st.bass_wave, midi_hz(chord_root - 12) * t);
    case Walking: return std::exp(-3 * tb) * osc(st.bass_wave, midi_hz(chord_root - 12 + walk_step) * t);
    case Octaves: return std::exp(-8 * std::fmod(t, beat / 2)) * osc(st.bass_wave, midi_hz(chord_root - 12 + 12 * (s16 / 2 % 2)) * t);
    case Offbeat: return (tb > beat / 2 ? std::exp(-5 * (tb - beat / 2)) : 0.3) * osc(st.bass_wave, midi_hz(chord_root - 12) * t);
    case Sub: return 1.3 * std::exp(-1.5 * tb) * osc(Sine, midi_hz(chord_root - 24) * t);
  }
  return 0;
}

// The chords' loudness at time t (ts: since the 16th note, bit: which 16th of the bar).
double chord_envelope(const Style& st, double t, double tb, double ts, double beat, int bit) {
  switch (st.chords) {
    case Sustained: return std::min(1.0, std::fmod(t, 4 * beat) / st.chord_attack);
    case Skank: return tb > beat / 2 ? std::exp(-25 * (tb - beat / 2)) : 0;
    case Stabs: return (bit % 4 == 0 || bit % 8 == 6) ? std::exp(-12 * ts) : 0.05;
    case NoChords: return 0;
  }
  return 0;
}

}  // namespace

std::vector<float> synthesize_genre_clip(int genre, double seconds, int rate, std::uint32_t seed) {
  if (genre < 0 || genre >= 10) throw Error("synth", "genre index must be in [0, 10)");
  if (!(seconds > 0 && seconds <= 600) || rate < 1000 || rate > 384000) throw Error("synth", "bad length or rate");
  const Style& st = kStyles[genre];
  std::mt19937 rng(seed * 7919u + genre * 104729u + 17u);
  std::uniform_real_distribution<double> u(0, 1);
  auto jitter = [&](double db) { return std::pow(10.0, (u(rng) * 2 - 1) * db / 20); };

  const double bpm = st.bpm_lo + u(rng) * (st.bpm_hi - st.bpm_lo);
  const double beat = 60.0 / bpm, step = beat / 4;
  const int root = 40 + static_cast<int>(u(rng) * 12);  // E2 .. D#3
  // Pattern variations: each clip flips a step or two of its drums.
  unsigned kick = st.kick, snare = st.snare, hat = st.hat;
  if (kick && u(rng) < 0.6) kick ^= 1u << static_cast<int>(u(rng) * 16);
  if (hat && u(rng) < 0.6) hat ^= 1u << static_cast<int>(u(rng) * 16);
  const double lv_drums = jitter(3), lv_bass = jitter(3), lv_chords = jitter(3), lv_lead = jitter(4);
  const double noise_level = st.noise_level * jitter(6);
  // Chord progression (one chord per bar) and a melody (one note per 8th, from the chord's scale).
  const int progressions[4][4] = {{0, 5, 7, 5}, {0, 7, 9, 5}, {0, 3, 5, 7}, {0, 5, 0, 7}};
  const int* prog = progressions[static_cast<int>(u(rng) * 4)];
  const int bars = static_cast<int>(seconds / (4 * beat)) + 2;
  std::vector<int> melody(static_cast<size_t>(bars) * 8), walk(static_cast<size_t>(bars) * 4);
  const int scale_major[7] = {0, 2, 4, 5, 7, 9, 11}, scale_minor[7] = {0, 2, 3, 5, 7, 8, 10};
  const int* scale = (st.harmony == Minor || st.harmony == Power) ? scale_minor : scale_major;
  for (auto& m : melody) m = u(rng) < 0.2 ? -1 : scale[static_cast<int>(u(rng) * 7)] + 12 * static_cast<int>(u(rng) * 2);
  for (auto& w : walk) w = scale[static_cast<int>(u(rng) * 7)];
  const auto chord = chord_intervals(st.harmony);

  const size_t n = static_cast<size_t>(seconds * rate);
  std::vector<float> out(n);
  std::normal_distribution<double> gauss;
  double pink = 0, brown = 0, lp = 0, prev_noise = 0;
  for (size_t i = 0; i < n; ++i) {
    const double t = static_cast<double>(i) / rate;
    const int s16 = static_cast<int>(t / step);
    const double ts = t - s16 * step;                 // time since the current 16th began
    const int b = static_cast<int>(t / beat), bar = b / 4;
    const double tb = t - b * beat;
    const int bit = s16 % 16;
    const int chord_root = root + prog[bar % 4];
    double drums = 0, bass = 0, chords = 0, lead = 0;
    const double white = gauss(rng);
    if (kick >> bit & 1u) drums += 0.9 * std::exp(-22 * ts) * std::sin(2 * std::numbers::pi * (45 * ts + 2.2 * (1 - std::exp(-30 * ts))));
    if (snare >> bit & 1u) drums += 0.45 * std::exp(-18 * ts) * (0.7 * white + 0.5 * std::sin(2 * std::numbers::pi * 185 * ts));
    if (hat >> bit & 1u) drums += 0.18 * std::exp(-st.hat_decay * 2 * ts) * (white - prev_noise);
    prev_noise = white;
    bass = bass_line(st, t, tb, beat, chord_root, walk[b % walk.size()], s16);
    const double chord_env = chord_envelope(st, t, tb, ts, beat, bit);
    if (chord_env > 0)
      for (int iv : chord) chords += chord_env * osc(st.chord_wave, midi_hz(chord_root + 12 + iv) * t) / chord.size();
    const int note = melody[static_cast<size_t>(t / (beat / 2)) % melody.size()];
    if (note >= 0) {
      const double tn = std::fmod(t, beat / 2);
      lead = std::min(1.0, tn / 0.01) * std::exp(-3 * tn) * osc(st.lead_wave, midi_hz(chord_root + 24 + note) * t);
    }
    pink = 0.95 * pink + 0.05 * white;
    brown = 0.995 * brown + 0.005 * white;
    const double noise = st.noise_colour == 0 ? white : st.noise_colour == 1 ? 4 * pink : 12 * brown;
    double x = 0.5 * lv_drums * drums + 0.35 * lv_bass * bass + 0.3 * lv_chords * chords +
               st.lead_level * lv_lead * lead + noise_level * noise;
    x = std::tanh(st.drive * x) / std::tanh(st.drive);
    lp += st.brightness * (x - lp);
    out[i] = static_cast<float>(0.8 * lp);
  }
  // Normalise the peak to a random level, as recordings differ.
  float peak = 1e-6f;
  for (float v : out) peak = std::max(peak, std::fabs(v));
  const float gain = static_cast<float>((0.5 + 0.45 * u(rng)) / peak);
  for (float& v : out) v *= gain;
  return out;
}

int write_synthetic_dataset(const std::filesystem::path& out, int per_class, double seconds, std::uint32_t seed,
                            int sample_rate) {
  if (per_class < 1 || per_class > 100000) throw Error("synth per_class", "must be in [1, 100000]");
  int written = 0;
  for (int g = 0; g < 10; ++g)
    for (int k = 0; k < per_class; ++k) {
      char name[64];
      std::snprintf(name, sizeof name, "%s.%05d.wav", kStyles[g].name, k);
      auto clip = synthesize_genre_clip(g, seconds, sample_rate, seed * 1000003u + static_cast<unsigned>(k));
      write_wav(out / kStyles[g].name / name, clip, sample_rate);
      ++written;
    }
  return written;
}

}  // namespace genrenet
