// Decoding with libsndfile: every format it knows (WAV, AU, FLAC, OGG/Vorbis, MP3, AIFF, ...), mixed to mono
// while reading, so a long stereo file never needs its interleaved copy in memory; MP3 and FLAC, once
// libsndfile has opened them, through their decoders (libmpg123, libFLAC) directly (why: at each).
#include <FLAC/stream_decoder.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <mpg123.h>
#include <sndfile.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <system_error>
#include <type_traits>

#include <genrenet/genrenet.h>

#include "common/finite.h"
#include "common/log.h"
#include "audio/pcm16.h"
#include "audio/polyphase.h"
#include "audio/reused_audio.h"
#include "audio/sndfile_handle.h"
#include "io/fd.h"
#include "io/file_copy.h"
#include "common/simd.h"

namespace genrenet {
namespace {

constexpr int kMinSampleRate = 1000;
constexpr int kMaxSampleRate = 768000;
constexpr int kMaxChannels = 256;

std::string fmt_seconds(double s) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f s", s);
  return buf;
}

// libsndfile keeps a log of what it noticed while parsing a header; a truncated WAV, for example, opens
// fine with the frame count cut to what the file holds, and only the log says "should be".
bool header_says_truncated(SNDFILE* f) {
  char log[4096] = {0};
  sf_command(f, SFC_GET_LOG_INFO, log, sizeof log - 1);
  return std::strstr(log, "should be") != nullptr || std::strstr(log, "truncated") != nullptr;
}

GENRENET_SIMD_CLONES
void shorts_to_float(const short* __restrict in, float* __restrict out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(in[i]) * (1.0f / 32768.0f);
}

// The mean of the channels of `frames` interleaved frames: one arithmetic for every decoder.
void mix_to_mono(const float* interleaved, size_t frames, int channels, float* out) {
  const float inv_channels = 1.0f / static_cast<float>(channels);
  for (size_t i = 0; i < frames; ++i) {
    const float* frame = interleaved + i * static_cast<size_t>(channels);
    float sum = 0;
    for (int c = 0; c < channels; ++c) sum += frame[c];
    out[i] = sum * inv_channels;
  }
}

// The frame count an opened stream's header promises; 0 where it gives none.
std::int64_t promised_frames(const SF_INFO& info) {
  return info.frames > 0 && info.frames != SF_COUNT_MAX ? info.frames : 0;
}

// The checks of an opened stream's header, for every format: rate, channels, length, and a header promising
// more than the file holds.
void check_opened(SNDFILE* sf, const SF_INFO& info, const std::string& name, double max_seconds) {
  if (info.samplerate < kMinSampleRate || info.samplerate > kMaxSampleRate)
    throw Error(name, "absurd sample rate " + std::to_string(info.samplerate) + " Hz (accepted: " +
                          std::to_string(kMinSampleRate) + " to " + std::to_string(kMaxSampleRate) + " Hz)");
  if (info.channels < 1 || info.channels > kMaxChannels)
    throw Error(name, "unsupported channel count " + std::to_string(info.channels));
  if (static_cast<double>(promised_frames(info)) > max_seconds * info.samplerate)
    throw Error(name, "too long: " + fmt_seconds(static_cast<double>(info.frames) / info.samplerate) +
                          " (the limit is " + fmt_seconds(max_seconds) + ")", ErrorKind::TooLarge);
  if ((info.format & SF_FORMAT_TYPEMASK) != SF_FORMAT_MPEG && header_says_truncated(sf))
    throw Error(name, "truncated: the header promises more audio than the file holds");
}

// A decoder that stops early without an error (a cut-off FLAC or OGG stream) shows as a short count. Real
// files that players play end a sliver early too (an Ogg page after the end-of-stream flag: 99.94% of the
// promised frames in one such track), so all but 1% is accepted with a warning; less is truncation. Nothing
// to check where nothing was promised (promised 0).
void check_decoded_length(std::int64_t decoded, int sample_rate, std::int64_t promised, const std::string& name) {
  if (promised <= 0 || decoded >= promised) return;
  const std::string counts = std::to_string(decoded) + " of " + std::to_string(promised) + " frames";
  if (static_cast<double>(decoded) < 0.99 * static_cast<double>(promised)) throw Error(name, "truncated: decoded " + counts);
  log(LogLevel::Warning, name + ": the decoder ended early (" + counts + ", " +
                             fmt_seconds(double(promised - decoded) / sample_rate) + " short); using what it gave");
}

// A decoded file: the samples are in the caller's `pcm` buffer where libsndfile decoded them (read_opened),
// in the Audio's own vector where a decoder of its own filled one as it went (MP3, FLAC).
struct Decoded {
  Audio audio;               // rates and channels; samples empty where they are in pcm
  std::span<float> samples;  // wherever they are (a moved vector keeps its storage: the span stays valid)
};
Decoded decoded_in_audio(Audio audio) {
  std::span<float> samples(audio.samples);
  return {std::move(audio), samples};
}

// Everything after opening: the checks, the reading and the mixing to mono, for files and memory alike. The
// samples go to `pcm`, written from its start (a buffer kept from clip to clip grows without zero-filling).
Decoded read_opened(SNDFILE* sf, const SF_INFO& info, const std::string& name, double max_seconds,
                    simd::ScratchFloats& pcm) {
  check_opened(sf, info, name, max_seconds);
  const double max_frames = max_seconds * info.samplerate;
  Decoded decoded;
  decoded.audio.sample_rate = decoded.audio.source_sample_rate = info.samplerate;
  decoded.audio.source_channels = info.channels;
  if (promised_frames(info)) pcm.reserve(static_cast<size_t>(info.frames) + 16384);

  // Read straight into the output (mono) or into a small interleaved buffer that is mixed down, chunk by
  // chunk; the finiteness check is a branch-free OR over exponent bits so that it vectorises.
  const sf_count_t chunk_frames = 16384;
  std::vector<float> interleaved(info.channels > 1 ? static_cast<size_t>(chunk_frames) * info.channels : 0);
  const bool pcm16_mono = info.channels == 1 && (info.format & SF_FORMAT_SUBMASK) == SF_FORMAT_PCM_16;
  std::vector<short> shorts(pcm16_mono ? chunk_frames : 0);
  size_t total = 0;
  for (;;) {
    if (static_cast<double>(total) > max_frames)
      throw Error(name, "too long: more than " + fmt_seconds(max_seconds) + " of audio (the limit)", ErrorKind::TooLarge);
    if (pcm.size() < total + chunk_frames) pcm.resize(total + chunk_frames);
    float* dst = pcm.data() + total;
    sf_count_t got;
    if (pcm16_mono) {
      // 16-bit mono (GTZAN's WAV and AU): read the integers and scale them here, in a loop that vectorises;
      // libsndfile's own conversion is per sample and took 1 ms of a 30-s clip. Same 1/32768 scale; integers
      // need no finiteness check.
      got = sf_readf_short(sf, shorts.data(), chunk_frames);
      if (got <= 0) break;
      shorts_to_float(shorts.data(), dst, static_cast<size_t>(got));
      total += static_cast<size_t>(got);
      continue;
    }
    if (info.channels == 1) {
      got = sf_readf_float(sf, dst, chunk_frames);
    } else {
      got = sf_readf_float(sf, interleaved.data(), chunk_frames);
    }
    if (got <= 0) break;
    if (info.channels > 1) mix_to_mono(interleaved.data(), static_cast<size_t>(got), info.channels, dst);
    if (!all_finite(dst, static_cast<size_t>(got))) {
      size_t at = total;
      while (std::isfinite(pcm[at])) ++at;
      throw Error(name, std::string(std::isnan(pcm[at]) ? "NaN" : "infinite") + " sample at frame " +
                            std::to_string(at) + " (" + fmt_seconds(double(at) / info.samplerate) + ")");
    }
    total += static_cast<size_t>(got);
  }
  pcm.resize(total);
  if (static_cast<double>(total) > max_frames)
    throw Error(name, "too long: more than " + fmt_seconds(max_seconds) + " of audio (the limit)", ErrorKind::TooLarge);
  if (int err = sf_error(sf); err != SF_ERR_NO_ERROR)
    throw Error(name, std::string("corrupt audio data (") + sf_strerror(sf) + ")");
  if (pcm.empty()) throw Error(name, "no samples after decoding");
  check_decoded_length(static_cast<std::int64_t>(total), info.samplerate, promised_frames(info), name);
  decoded.samples = pcm;
  return decoded;
}

// The public form: the samples in the Audio (copied out of the buffer, as they were appended to it before).
Audio into_audio(Decoded decoded) {
  if (decoded.audio.samples.empty()) decoded.audio.samples.assign(decoded.samples.begin(), decoded.samples.end());
  return std::move(decoded.audio);
}

// MP3 (and MP2) through libmpg123 directly: the decoder libsndfile uses for them, with libsndfile's settings
// (float output, gapless, no resampling, no format changes mid-stream), so the same samples. Through
// libsndfile its handle is out of reach, and it printed "Note: Illegal Audio-MPEG-Header ..." lines without
// the file's name, from whichever thread was decoding. Here it is quiet, and damage is found by decoding
// without resynchronisation first: a stream that loses sync is decoded again the way players do (skipping
// the damage), with a warning that names the file and where.
struct Mpg123 {
  mpg123_handle* h = nullptr;
  ~Mpg123() {
    if (h) {
      mpg123_close(h);
      mpg123_delete(h);
    }
  }
};

// Where libmpg123 reads from: a file, read as it decodes (so that a long recording over the length limit is
// refused after that much audio, not after reading all of it into memory), or bytes in memory (an upload).
// A file cut short while it is read ends the stream there, as it would have been read.
struct MpegInput {
  int fd = -1;                                // the file, or -1 for `bytes`
  std::span<const unsigned char> bytes = {};  // when fd < 0
  off_t size = 0, pos = 0;
  // The file's bytes from buffer_at on, read 64 KB at a time: libmpg123 asks for each frame's header and body
  // separately (2300 reads for a 30-s clip, a system call each).
  std::vector<unsigned char> buffer = {};
  off_t buffer_at = 0;
};
mpg123_ssize_t read_mpeg_input(void* u, void* out, size_t n) {
  auto* in = static_cast<MpegInput*>(u);
  n = static_cast<size_t>(std::max<off_t>(0, std::min<off_t>(static_cast<off_t>(n), in->size - in->pos)));
  if (in->fd < 0) {
    std::memcpy(out, in->bytes.data() + in->pos, n);
    in->pos += static_cast<off_t>(n);
    return static_cast<mpg123_ssize_t>(n);
  }
  size_t done = 0;
  while (done < n) {
    const off_t buffered_end = in->buffer_at + static_cast<off_t>(in->buffer.size());
    if (in->pos < in->buffer_at || in->pos >= buffered_end) {
      in->buffer.resize(64 * 1024);
      ssize_t got;
      while ((got = ::pread(in->fd, in->buffer.data(), in->buffer.size(), in->pos)) < 0 && errno == EINTR) {
      }
      if (got < 0) return -1;
      in->buffer.resize(static_cast<size_t>(got));
      in->buffer_at = in->pos;
      if (got == 0) break;  // cut short since it was opened
      continue;
    }
    const size_t k = std::min(n - done, static_cast<size_t>(buffered_end - in->pos));
    std::memcpy(static_cast<unsigned char*>(out) + done, in->buffer.data() + (in->pos - in->buffer_at), k);
    done += k;
    in->pos += static_cast<off_t>(k);
  }
  return static_cast<mpg123_ssize_t>(done);
}
off_t seek_mpeg_input(void* u, off_t offset, int whence) {
  auto* in = static_cast<MpegInput*>(u);
  const off_t to = whence == SEEK_SET ? offset : whence == SEEK_CUR ? in->pos + offset : in->size + offset;
  if (to < 0 || to > in->size) return -1;
  return in->pos = to;
}

// One decoding pass; `resync` false stops at the first damage (returns false, `lost_at` the frame).
bool decode_mpeg_pass(MpegInput input, const std::string& name, double max_seconds, bool resync, Audio& audio,
                      size_t& lost_at) {
  int err = MPG123_OK;
  Mpg123 m{mpg123_new(nullptr, &err)};
  if (!m.h) throw Error(name, std::string("the MP3 decoder could not start (") + mpg123_plain_strerror(err) + ")", ErrorKind::Internal);
  const long quiet = MPG123_QUIET | MPG123_FORCE_FLOAT | MPG123_GAPLESS | MPG123_NO_FRANKENSTEIN | (resync ? 0 : MPG123_NO_RESYNC);
  mpg123_param(m.h, MPG123_ADD_FLAGS, quiet, 0);
  mpg123_param(m.h, MPG123_REMOVE_FLAGS, MPG123_AUTO_RESAMPLE, 0);
  if (resync) mpg123_param(m.h, MPG123_RESYNC_LIMIT, -1, 0);  // past damage of any length, to the stream's end
  long rate = 0;
  int channels = 0, encoding = 0;
  if (mpg123_replace_reader_handle(m.h, read_mpeg_input, seek_mpeg_input, nullptr) != MPG123_OK ||
      mpg123_open_handle(m.h, &input) != MPG123_OK || mpg123_getformat(m.h, &rate, &channels, &encoding) != MPG123_OK)
    throw Error(name, std::string("not a readable MPEG audio stream (") + mpg123_strerror(m.h) + ")");
  if (rate < kMinSampleRate || rate > kMaxSampleRate || channels < 1 || channels > 2)
    throw Error(name, "an MPEG stream of " + std::to_string(rate) + " Hz and " + std::to_string(channels) + " channels");
  mpg123_format_none(m.h);
  mpg123_format(m.h, rate, channels, MPG123_ENC_FLOAT_32);
  audio = Audio();
  audio.sample_rate = audio.source_sample_rate = static_cast<int>(rate);
  audio.source_channels = channels;
  const double max_frames = max_seconds * static_cast<double>(rate);
  std::vector<float> buffer(static_cast<size_t>(16384 * channels));
  for (;;) {
    size_t done = 0;
    const int rc = mpg123_read(m.h, buffer.data(), buffer.size() * sizeof(float), &done);
    const size_t frames = done / sizeof(float) / static_cast<size_t>(channels);
    const size_t at = audio.samples.size();
    audio.samples.resize(at + frames);
    if (channels == 1)
      std::copy_n(buffer.begin(), frames, audio.samples.begin() + static_cast<std::ptrdiff_t>(at));
    else
      mix_to_mono(buffer.data(), frames, channels, audio.samples.data() + at);
    if (static_cast<double>(audio.samples.size()) > max_frames)
      throw Error(name, "too long: more than " + fmt_seconds(max_seconds) + " of audio (the limit)", ErrorKind::TooLarge);
    if (rc == MPG123_DONE) break;
    if (rc == MPG123_OK || rc == MPG123_NEW_FORMAT) continue;
    if (!resync && mpg123_errcode(m.h) == MPG123_OUT_OF_SYNC) {
      lost_at = audio.samples.size();
      return false;
    }
    throw Error(name, std::string("corrupt MPEG audio data (") + mpg123_strerror(m.h) + ")");
  }
  if (audio.samples.empty()) throw Error(name, "no samples after decoding");
  if (!all_finite(audio.samples.data(), audio.samples.size())) throw Error(name, "non-finite samples after decoding");
  return true;
}

// Each pass reads `input` from its start.
Audio decode_mpeg(const MpegInput& input, const std::string& name, double max_seconds) {
  static const int initialised = mpg123_init();  // (a no-op in libmpg123 >= 1.27; needed before)
  (void)initialised;
  Audio audio;
  size_t lost_at = 0;
  if (!decode_mpeg_pass(input, name, max_seconds, false, audio, lost_at)) {
    decode_mpeg_pass(input, name, max_seconds, true, audio, lost_at);
    log(LogLevel::Warning, name + ": damaged MPEG data at " + fmt_seconds(static_cast<double>(lost_at) / audio.sample_rate) +
                               "; decoded past it as players do");
  }
  return audio;
}

// FLAC through libFLAC directly: the decoder libsndfile uses for it, whose samples libsndfile passes on through
// buffers of its own, converting one sample at a time: 6.6 ms of a 30-s GTZAN clip where libFLAC's decoding
// is 5.4 (AMD EPYC family 25 model 17). The values are libsndfile's: x / 2^(bits - 1), exact for every
// FLAC sample size up to 24 bits, mixed to mono as every decoder here is. libsndfile still opens the stream
// first, so the header checks (rate, channels, length) are the same for FLAC as for every format.
struct FlacDecoder {
  FLAC__StreamDecoder* d = FLAC__stream_decoder_new();
  ~FlacDecoder() {
    if (d) FLAC__stream_decoder_delete(d);
  }
};

// What the callbacks share. They run inside libFLAC (C): they must not throw, so they record what went wrong
// and stop the decoder, and decode_flac throws afterwards.
struct FlacRead {
  std::span<const unsigned char> bytes;  // decoding from memory: the bytes, and where the decoder reads
  size_t pos = 0;
  Audio* audio = nullptr;
  int channels = 0;
  double max_frames = 0;
  std::vector<float> interleaved;
  enum class Stop { No, FormatChange, TooLong, OutOfMemory } stopped = Stop::No;  // why the write callback stopped
  int frame_channels = 0, frame_bits = 0;  // the frame that changed the format
  int error = -1;       // the first FLAC__StreamDecoderErrorStatus reported
  size_t error_at = 0;  // how many samples had been decoded then
};

GENRENET_SIMD_CLONES
void ints_to_float(const FLAC__int32* __restrict in, float* __restrict out, size_t n, float scale) {
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(in[i]) * scale;
}

FLAC__StreamDecoderReadStatus flac_read(const FLAC__StreamDecoder*, FLAC__byte buffer[], size_t* bytes, void* u) {
  auto* r = static_cast<FlacRead*>(u);
  *bytes = std::min(*bytes, r->bytes.size() - r->pos);
  if (*bytes == 0) return FLAC__STREAM_DECODER_READ_STATUS_END_OF_STREAM;
  std::memcpy(buffer, r->bytes.data() + r->pos, *bytes);
  r->pos += *bytes;
  return FLAC__STREAM_DECODER_READ_STATUS_CONTINUE;
}
FLAC__StreamDecoderSeekStatus flac_seek(const FLAC__StreamDecoder*, FLAC__uint64 to, void* u) {
  auto* r = static_cast<FlacRead*>(u);
  if (to > r->bytes.size()) return FLAC__STREAM_DECODER_SEEK_STATUS_ERROR;
  r->pos = static_cast<size_t>(to);
  return FLAC__STREAM_DECODER_SEEK_STATUS_OK;
}
FLAC__StreamDecoderTellStatus flac_tell(const FLAC__StreamDecoder*, FLAC__uint64* at, void* u) {
  *at = static_cast<FlacRead*>(u)->pos;
  return FLAC__STREAM_DECODER_TELL_STATUS_OK;
}
FLAC__StreamDecoderLengthStatus flac_length(const FLAC__StreamDecoder*, FLAC__uint64* length, void* u) {
  *length = static_cast<FlacRead*>(u)->bytes.size();
  return FLAC__STREAM_DECODER_LENGTH_STATUS_OK;
}
FLAC__bool flac_eof(const FLAC__StreamDecoder*, void* u) {
  auto* r = static_cast<FlacRead*>(u);
  return r->pos >= r->bytes.size();
}
void flac_error(const FLAC__StreamDecoder*, FLAC__StreamDecoderErrorStatus status, void* u) {
  auto* r = static_cast<FlacRead*>(u);
  if (r->error >= 0) return;
  r->error = static_cast<int>(status);
  r->error_at = r->audio->samples.size();
}

FLAC__StreamDecoderWriteStatus flac_write(const FLAC__StreamDecoder*, const FLAC__Frame* frame,
                                          const FLAC__int32* const buffer[], void* u) {
  auto* r = static_cast<FlacRead*>(u);
  const size_t n = frame->header.blocksize;
  const int channels = static_cast<int>(frame->header.channels), bits = static_cast<int>(frame->header.bits_per_sample);
  std::vector<float>& out = r->audio->samples;
  if (channels != r->channels || bits < 4 || bits > 32) {
    r->stopped = FlacRead::Stop::FormatChange;
    r->frame_channels = channels;
    r->frame_bits = bits;
    return FLAC__STREAM_DECODER_WRITE_STATUS_ABORT;
  }
  if (static_cast<double>(out.size() + n) > r->max_frames) {
    r->stopped = FlacRead::Stop::TooLong;
    return FLAC__STREAM_DECODER_WRITE_STATUS_ABORT;
  }
  const float scale = std::ldexp(1.0f, 1 - bits);
  try {
    const size_t at = out.size();
    out.resize(at + n);
    if (channels == 1) {
      ints_to_float(buffer[0], out.data() + at, n, scale);
    } else {
      r->interleaved.resize(n * static_cast<size_t>(channels));
      for (int c = 0; c < channels; ++c)
        for (size_t i = 0; i < n; ++i) r->interleaved[i * channels + c] = static_cast<float>(buffer[c][i]) * scale;
      mix_to_mono(r->interleaved.data(), n, channels, out.data() + at);
    }
  } catch (const std::bad_alloc&) {
    r->stopped = FlacRead::Stop::OutOfMemory;
    return FLAC__STREAM_DECODER_WRITE_STATUS_ABORT;
  }
  return FLAC__STREAM_DECODER_WRITE_STATUS_CONTINUE;
}

// `open` starts the decoder on its input (a file, read as it decodes; or bytes in memory) with the callbacks.
template <class Open>
Audio decode_flac(Open open, const SF_INFO& info, const std::string& name, double max_seconds) {
  Audio audio;
  audio.sample_rate = audio.source_sample_rate = info.samplerate;
  audio.source_channels = info.channels;
  const std::int64_t promised = promised_frames(info);
  if (promised) audio.samples.reserve(static_cast<size_t>(promised));
  FlacRead r;
  r.audio = &audio;
  r.channels = info.channels;
  r.max_frames = max_seconds * info.samplerate;
  FlacDecoder decoder;
  if (!decoder.d || open(decoder.d, r) != FLAC__STREAM_DECODER_INIT_STATUS_OK)
    throw Error(name, "the FLAC decoder could not start", ErrorKind::Internal);
  FLAC__stream_decoder_process_until_end_of_stream(decoder.d);
  switch (r.stopped) {
    case FlacRead::Stop::No: break;
    case FlacRead::Stop::TooLong:
      throw Error(name, "too long: more than " + fmt_seconds(max_seconds) + " of audio (the limit)", ErrorKind::TooLarge);
    case FlacRead::Stop::FormatChange:
      throw Error(name, "corrupt audio data (a frame of " + std::to_string(r.frame_channels) + " channels and " +
                            std::to_string(r.frame_bits) + " bits in a stream of " + std::to_string(r.channels) + " channels)");
    case FlacRead::Stop::OutOfMemory: throw std::bad_alloc();
  }
  if (audio.samples.empty()) throw Error(name, "no samples after decoding");
  check_decoded_length(static_cast<std::int64_t>(audio.samples.size()), audio.sample_rate, promised, name);
  // Damage with frames decoded after it (a frame that fails its checksum, lost sync) is an error, as libsndfile
  // made it; a stream cut off inside its last frame reports one too, and is the truncation judged above.
  const bool cut_short = static_cast<std::int64_t>(audio.samples.size()) < promised;
  if (r.error >= 0 && !(cut_short && r.error_at == audio.samples.size()))
    throw Error(name, std::string("corrupt audio data (FLAC: ") + FLAC__StreamDecoderErrorStatusString[r.error] + ")");
  return audio;
}

// What a file that libsndfile cannot read is, by its first bytes, for the message ("" when unknown): the
// usual mistakes are a picture, a document or an archive with an audio name.
std::string what_the_bytes_are(std::string_view head) {
  static const std::pair<std::string_view, const char*> kinds[] = {
      {"\x89PNG", "a PNG image"}, {"\xff\xd8\xff", "a JPEG image"}, {"GIF8", "a GIF image"},
      {"%PDF", "a PDF document"}, {"PK\x03\x04", "a ZIP archive"},  {"\x1f\x8b", "a gzip archive"},
      {"<!DOCTYPE", "an HTML page"}, {"<html", "an HTML page"},    {"{", "a JSON or text file"}};
  for (const auto& [magic, kind] : kinds)
    if (head.substr(0, magic.size()) == magic) return kind;
  if (head.size() >= 12 && head.substr(4, 4) == "ftyp") return "an MP4/M4A file (AAC, which genrenet cannot decode)";
  return "";
}

std::string unreadable(std::string_view head, const std::string& why) {
  const std::string kind = what_the_bytes_are(head);
  return kind.empty() ? "not a readable audio file (" + why + ")" : "not audio: its content is " + kind + ", whatever its name says";
}

// decode_audio: the checks of the path, libsndfile to open it, then the decoder of its format.
Decoded decode_file(const std::filesystem::path& path, double max_seconds, simd::ScratchFloats& pcm) {
  const std::string name = path.string();
  if (const std::string dangling = io::dangling_link(path); !dangling.empty()) throw Error(name, dangling);
  std::error_code ec;
  auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) throw Error(name, "no such file");
  if (std::filesystem::is_directory(status)) throw Error(name, "is a directory, not an audio file");
  // A FIFO or a device could block the reader forever or never end.
  if (!std::filesystem::is_regular_file(status)) throw Error(name, "not a regular file");
  auto size = std::filesystem::file_size(path, ec);
  if (!ec && size == 0) throw Error(name, "empty file (0 bytes)");

  SF_INFO info{};
  SndfileHandle file(sf_open(name.c_str(), SFM_READ, &info));
  if (!file) {
    const std::string why = sf_strerror(nullptr);
    char head[16] = {};
    std::ifstream(path, std::ios::binary).read(head, sizeof head);
    throw Error(name, unreadable(std::string_view(head, sizeof head), why));
  }
  if ((info.format & SF_FORMAT_TYPEMASK) == SF_FORMAT_MPEG) {
    file.reset();  // (closed before the file is read again)
    io::Fd fd{::open(name.c_str(), O_RDONLY | O_CLOEXEC)};
    struct stat st {};
    if (fd.fd < 0 || ::fstat(fd.fd, &st) != 0) throw Error(name, "cannot be read: " + std::string(std::strerror(errno)));
    return decoded_in_audio(decode_mpeg(MpegInput{.fd = fd.fd, .size = st.st_size}, name, max_seconds));
  }
  if ((info.format & SF_FORMAT_TYPEMASK) == SF_FORMAT_FLAC) {
    check_opened(file.get(), info, name, max_seconds);
    file.reset();
    auto open = [&](FLAC__StreamDecoder* d, FlacRead& r) {
      return FLAC__stream_decoder_init_file(d, name.c_str(), flac_write, nullptr, flac_error, &r);
    };
    return decoded_in_audio(decode_flac(open, info, name, max_seconds));
  }
  return read_opened(file.get(), info, name, max_seconds, pcm);
}

// libsndfile's virtual I/O over a byte buffer (an HTTP upload), read-only.
struct MemoryStream {
  const unsigned char* data;
  sf_count_t size, pos = 0;
};
sf_count_t mem_length(void* u) { return static_cast<MemoryStream*>(u)->size; }
sf_count_t mem_seek(sf_count_t offset, int whence, void* u) {
  auto* m = static_cast<MemoryStream*>(u);
  sf_count_t to = whence == SEEK_SET ? offset : whence == SEEK_CUR ? m->pos + offset : m->size + offset;
  if (to < 0 || to > m->size) return -1;
  return m->pos = to;
}
sf_count_t mem_read(void* ptr, sf_count_t count, void* u) {
  auto* m = static_cast<MemoryStream*>(u);
  const sf_count_t n = std::max<sf_count_t>(0, std::min(count, m->size - m->pos));
  std::memcpy(ptr, m->data + m->pos, static_cast<size_t>(n));
  m->pos += n;
  return n;
}
sf_count_t mem_write(const void*, sf_count_t, void*) { return 0; }
sf_count_t mem_tell(void* u) { return static_cast<MemoryStream*>(u)->pos; }

Decoded decode_bytes(std::span<const unsigned char> bytes, const std::string& name, double max_seconds,
                     simd::ScratchFloats& pcm) {
  if (bytes.empty()) throw Error(name, "empty file (0 bytes)");
  MemoryStream stream{bytes.data(), static_cast<sf_count_t>(bytes.size())};
  SF_VIRTUAL_IO io{mem_length, mem_seek, mem_read, mem_write, mem_tell};
  SF_INFO info{};
  SndfileHandle file(sf_open_virtual(&io, SFM_READ, &info, &stream));
  if (!file)
    throw Error(name, unreadable(std::string_view(reinterpret_cast<const char*>(bytes.data()), std::min<size_t>(bytes.size(), 16)),
                                 sf_strerror(nullptr)));
  if ((info.format & SF_FORMAT_TYPEMASK) == SF_FORMAT_MPEG)
    return decoded_in_audio(
        decode_mpeg(MpegInput{.bytes = bytes, .size = static_cast<off_t>(bytes.size())}, name, max_seconds));
  if ((info.format & SF_FORMAT_TYPEMASK) == SF_FORMAT_FLAC) {
    check_opened(file.get(), info, name, max_seconds);
    auto open = [&](FLAC__StreamDecoder* d, FlacRead& r) {
      r.bytes = bytes;
      return FLAC__stream_decoder_init_stream(d, flac_read, flac_seek, flac_tell, flac_length, flac_eof, flac_write,
                                              nullptr, flac_error, &r);
    };
    return decoded_in_audio(decode_flac(open, info, name, max_seconds));
  }
  return read_opened(file.get(), info, name, max_seconds, pcm);
}

void check_rate(const AudioOptions& options) {
  if (options.sample_rate < 1000 || options.sample_rate > 384000)
    throw Error("audio.sample_rate", "must be in [1000, 384000] Hz, got " + std::to_string(options.sample_rate));
}

// Resampling and quantisation after decoding, as AudioOptions say, into a new vector (load_audio) or a buffer
// kept from clip to clip (load_audio_reusing_buffers). Returns the samples: `resampled`, or at equal rates the
// decoded ones, quantised in place.
template <class Buffer>
std::span<float> finish_samples(std::span<float> decoded, int rate, const AudioOptions& options,
                                const std::string& name, Buffer& resampled) {
  if (rate == options.sample_rate) {
    if (options.quantize_16bit) quantize_16bit(decoded);
    return decoded;
  }
  if constexpr (std::is_same_v<Buffer, simd::ScratchFloats>)
    resample_into(decoded, rate, options.sample_rate, options.resample_quality, options.resampler,
                  options.quantize_16bit, resampled);
  else
    resampled = resample(decoded, rate, options.sample_rate, options.resample_quality, options.resampler,
                         options.quantize_16bit);
  if (resampled.empty()) throw Error(name, "no samples left after resampling (too short)");
  return resampled;
}

Audio finish_loading(Decoded decoded, const AudioOptions& options, const std::string& name) {
  std::vector<float> resampled;
  finish_samples(decoded.samples, decoded.audio.sample_rate, options, name, resampled);
  if (resampled.empty()) return into_audio(std::move(decoded));  // equal rates
  decoded.audio.samples = std::move(resampled);
  decoded.audio.sample_rate = options.sample_rate;
  return std::move(decoded.audio);
}

}  // namespace

bool has_audio_extension(const std::filesystem::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  static const std::set<std::string> exts = {".wav", ".au", ".flac", ".ogg", ".oga", ".mp3", ".aiff", ".aif"};
  return exts.count(ext) > 0;
}

Audio decode_audio(const std::filesystem::path& path, double max_seconds) {
  simd::ScratchFloats pcm;
  return into_audio(decode_file(path, max_seconds, pcm));
}

Audio decode_audio(std::span<const unsigned char> bytes, const std::string& name, double max_seconds) {
  simd::ScratchFloats pcm;
  return into_audio(decode_bytes(bytes, name, max_seconds, pcm));
}

// The decoded samples go only to the resampler: they stay in their buffer, never copied into an Audio.
Audio load_audio(const std::filesystem::path& path, const AudioOptions& options) {
  check_rate(options);
  simd::ScratchFloats pcm;
  return finish_loading(decode_file(path, options.max_seconds, pcm), options, path.string());
}

Audio load_audio(std::span<const unsigned char> bytes, const std::string& name, const AudioOptions& options) {
  check_rate(options);
  simd::ScratchFloats pcm;
  return finish_loading(decode_bytes(bytes, name, options.max_seconds, pcm), options, name);
}

const ReusedAudio& load_audio_reusing_buffers(const std::filesystem::path& path, const AudioOptions& options) {
  struct Buffers {
    simd::ScratchFloats pcm, resampled;
    Decoded decoded;
    ReusedAudio loaded;
  };
  thread_local Buffers b;
  // A long recording's buffers are given back rather than kept for the next file (32 MB each: ~6 minutes at
  // 22.05 kHz): the decoded one as soon as it is resampled, the other at the next call.
  constexpr size_t kKeptFloats = size_t{1} << 23;
  auto give_back_if_large = [](simd::ScratchFloats& buffer) {
    if (buffer.capacity() > kKeptFloats) simd::ScratchFloats().swap(buffer);
  };
  b.loaded = {};
  b.decoded = {};
  give_back_if_large(b.pcm);
  give_back_if_large(b.resampled);
  check_rate(options);
  b.decoded = decode_file(path, options.max_seconds, b.pcm);
  const std::span<const float> samples =
      finish_samples(b.decoded.samples, b.decoded.audio.sample_rate, options, path.string(), b.resampled);
  b.loaded = {samples, options.sample_rate, b.decoded.audio.source_sample_rate, b.decoded.audio.source_channels};
  if (samples.data() == b.resampled.data()) {
    b.decoded = {};  // (an MP3's or FLAC's own vector: not kept)
    give_back_if_large(b.pcm);
  }
  return b.loaded;
}

Audio audio_from_samples(std::span<const float> samples, int sample_rate, const std::string& name,
                         const AudioOptions& options) {
  check_rate(options);
  if (sample_rate < kMinSampleRate || sample_rate > kMaxSampleRate)
    throw Error(name, "absurd sample rate " + std::to_string(sample_rate) + " Hz (accepted: " +
                          std::to_string(kMinSampleRate) + " to " + std::to_string(kMaxSampleRate) + " Hz)");
  if (samples.empty()) throw Error(name, "no samples");
  if (!all_finite(samples.data(), samples.size())) {
    size_t at = 0;
    while (std::isfinite(samples[at])) ++at;
    throw Error(name, "non-finite sample at index " + std::to_string(at));
  }
  if (static_cast<double>(samples.size()) / sample_rate > options.max_seconds)
    throw Error(name, "too long: " + fmt_seconds(static_cast<double>(samples.size()) / sample_rate) +
                          " (the limit is " + fmt_seconds(options.max_seconds) + ")", ErrorKind::TooLarge);
  Audio audio;
  audio.samples.assign(samples.begin(), samples.end());
  audio.sample_rate = audio.source_sample_rate = sample_rate;
  audio.source_channels = 1;
  return finish_loading(decoded_in_audio(std::move(audio)), options, name);
}

namespace {
GENRENET_SIMD_CLONES
void quantize_16bit_kernel(float* x, size_t n) {
  for (size_t i = 0; i < n; ++i) x[i] = quantize_16bit_sample(x[i]);
}
}  // namespace

void quantize_16bit(std::span<float> samples) { quantize_16bit_kernel(samples.data(), samples.size()); }

}  // namespace genrenet
