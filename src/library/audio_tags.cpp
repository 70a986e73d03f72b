// Genre and comment fields through TagLib (Debian's libtag1-dev, LGPL), one code path per tag kind.
#include "library/audio_tags.h"

#include <memory>

#include <nlohmann/json.hpp>
#include <taglib/aifffile.h>
#include <taglib/apetag.h>
#include <taglib/fileref.h>
#include <taglib/flacfile.h>
#include <taglib/id3v2framefactory.h>
#include <taglib/id3v1tag.h>
#include <taglib/id3v2tag.h>
#include <taglib/mpegfile.h>
#include <taglib/oggfile.h>
#include <taglib/tpropertymap.h>
#include <taglib/textidentificationframe.h>
#include <taglib/wavfile.h>
#include <taglib/xiphcomment.h>

#include "common/failpoint.h"

namespace genrenet::tags {
namespace {

std::string utf8(const TagLib::String& s) { return s.to8Bit(true); }
TagLib::String tstring(const std::string& s) { return TagLib::String(s, TagLib::String::UTF8); }

// TagLib reads an ID3v2.3 tag by upgrading its frames to v2.4, and drops those v2.4 has no place for
// (RVAD, EQUA, TSIZ, TRDA, TDAT, TIME); saved back as v2.3 they were gone. This factory keeps every v2.3 frame
// as it is (unknown ones as raw bytes), so that a v2.3 tag is written back frame for frame: only the field
// genrenet writes changes.
template <typename Method>
struct FirstArgument;
template <typename R, typename C, typename A>
struct FirstArgument<R (C::*)(A) const> {
  using type = A;
};

class KeepVersion3Frames : public TagLib::ID3v2::FrameFactory {
  // TagLib's Frame::Header is a protected class (FrameFactory is a friend, a subclass is not): the pointer
  // type is taken from the method overridden, without naming it.
  using HeaderPointer = FirstArgument<decltype(&KeepVersion3Frames::updateFrame)>::type;

 public:
  static KeepVersion3Frames* instance() {
    static KeepVersion3Frames f;
    return &f;
  }

 protected:
  bool updateFrame(HeaderPointer header) const override {
    return header->version() == 3 || TagLib::ID3v2::FrameFactory::updateFrame(header);
  }
};

// One tag of a file: where the field is read and written.
struct Slot {
  std::string kind;
  TagLib::Tag* tag = nullptr;
};

// The open file and its slots in the order players prefer them; save() writes them all back, keeping every
// other tag and the ID3v2 version the file had.
class TaggedFile {
 public:
  TaggedFile(const std::filesystem::path& file, bool for_writing) : path_(file) {
    {  // FileRef finds the format; the formats with ID3v2 tags are opened again with the frame factory above.
      TagLib::FileRef probe(file.c_str(), false);
      if (probe.isNull() || !probe.file() || !probe.file()->isValid())
        throw Error(file.string(), std::filesystem::exists(file)
                                       ? "TagLib cannot read its tags (not a format that holds them: AU and raw audio do not, or damaged)"
                                       : "no such file");
      auto* factory = KeepVersion3Frames::instance();
      if (dynamic_cast<TagLib::MPEG::File*>(probe.file()))
        file_ = std::make_unique<TagLib::MPEG::File>(file.c_str(), factory, false);
      else if (dynamic_cast<TagLib::FLAC::File*>(probe.file()))
        file_ = std::make_unique<TagLib::FLAC::File>(file.c_str(), factory, false);
      else
        ref_ = probe;
    }
    TagLib::File* f = file_ ? file_.get() : ref_.file();
    if (!f->isValid()) throw Error(file.string(), "TagLib cannot read its tags (damaged)");
    if (for_writing && f->readOnly()) throw Error(file.string(), "is read-only: its tags cannot be written");
    if (auto* mp3 = dynamic_cast<TagLib::MPEG::File*>(f)) {
      mp3_ = mp3;
      id3v2_version_ = version_of(mp3->hasID3v2Tag() ? mp3->ID3v2Tag() : nullptr);
      slots_.push_back({"id3v2", mp3->ID3v2Tag(true)});
      if (mp3->hasAPETag()) slots_.push_back({"ape", mp3->APETag()});
      if (mp3->hasID3v1Tag()) slots_.push_back({"id3v1", mp3->ID3v1Tag()});
    } else if (auto* flac = dynamic_cast<TagLib::FLAC::File*>(f)) {
      flac_ = flac;
      slots_.push_back({"xiph", flac->xiphComment(true)});
      if (flac->hasID3v2Tag()) slots_.push_back({"id3v2", flac->ID3v2Tag()});
      if (flac->hasID3v1Tag()) slots_.push_back({"id3v1", flac->ID3v1Tag()});
    } else if (auto* wav = dynamic_cast<TagLib::RIFF::WAV::File*>(f)) {
      wav_ = wav;
      id3v2_version_ = version_of(wav->hasID3v2Tag() ? wav->ID3v2Tag() : nullptr);
      slots_.push_back({"riff-info", wav->InfoTag()});
      slots_.push_back({"id3v2", wav->ID3v2Tag()});
    } else if (auto* aiff = dynamic_cast<TagLib::RIFF::AIFF::File*>(f)) {
      aiff_ = aiff;
      id3v2_version_ = version_of(aiff->hasID3v2Tag() ? aiff->tag() : nullptr);
      slots_.push_back({"id3v2", aiff->tag()});
    } else if (auto* ogg = dynamic_cast<TagLib::Ogg::File*>(f)) {  // Vorbis, Opus, Speex, Ogg FLAC
      if (auto* x = dynamic_cast<TagLib::Ogg::XiphComment*>(ogg->tag())) slots_.push_back({"xiph", x});
    }
    if (slots_.empty())
      throw Error(file.string(), "its format's tags are not among those genrenet writes (MP3, FLAC, Ogg, WAV, AIFF)");
  }

  const std::vector<Slot>& slots() const { return slots_; }
  TagLib::File* file() const { return file_ ? file_.get() : ref_.file(); }

  void save() {
    bool ok = false;
    const auto v = id3v2_version_ == 3 ? TagLib::ID3v2::v3 : TagLib::ID3v2::v4;
    if (mp3_) {
      int kinds = TagLib::MPEG::File::ID3v2;
      if (mp3_->hasAPETag()) kinds |= TagLib::MPEG::File::APE;
      if (mp3_->hasID3v1Tag()) kinds |= TagLib::MPEG::File::ID3v1;
      ok = mp3_->save(kinds, TagLib::File::StripNone, v, TagLib::File::DoNotDuplicate);
    } else if (wav_) {
      ok = wav_->save(TagLib::RIFF::WAV::File::AllTags, TagLib::File::StripNone, v);
    } else if (aiff_) {
      ok = aiff_->save(v);
    } else {
      ok = (file_ ? file_.get() : ref_.file())->save();
    }
    if (!ok || failpoint("save", path_.string()))
      throw Error(path_.string(), "TagLib could not save its tags (is its disk full?)");
  }

 private:
  static int version_of(TagLib::ID3v2::Tag* t) { return t && t->header() ? static_cast<int>(t->header()->majorVersion()) : 4; }

  std::filesystem::path path_;
  std::unique_ptr<TagLib::File> file_;  // MP3 and FLAC, opened with KeepVersion3Frames
  TagLib::FileRef ref_;                 // the other formats
  std::vector<Slot> slots_;
  TagLib::MPEG::File* mp3_ = nullptr;
  TagLib::FLAC::File* flac_ = nullptr;
  TagLib::RIFF::WAV::File* wav_ = nullptr;
  TagLib::RIFF::AIFF::File* aiff_ = nullptr;
  int id3v2_version_ = 4;
};

// Vorbis comments and ID3v2 text frames hold lists: read and written whole. Other tags hold one string.
std::vector<std::string> get(const Slot& s, TagField field) {
  std::vector<std::string> out;
  if (auto* x = dynamic_cast<TagLib::Ogg::XiphComment*>(s.tag)) {
    const auto& m = x->fieldListMap();
    const auto it = m.find(field == TagField::genre ? "GENRE" : "COMMENT");
    if (it != m.end())
      for (const auto& v : it->second) out.push_back(utf8(v));
    return out;
  }
  if (auto* id3 = dynamic_cast<TagLib::ID3v2::Tag*>(s.tag); id3 && field == TagField::genre) {
    for (auto* frame : id3->frameList("TCON"))
      if (auto* t = dynamic_cast<TagLib::ID3v2::TextIdentificationFrame*>(frame))
        for (const auto& v : t->fieldList()) out.push_back(utf8(v));
    return out;
  }
  const std::string v = utf8(field == TagField::genre ? s.tag->genre() : s.tag->comment());
  if (!v.empty()) out.push_back(v);
  return out;
}

void set(const Slot& s, TagField field, const std::vector<std::string>& values) {
  if (auto* x = dynamic_cast<TagLib::Ogg::XiphComment*>(s.tag)) {
    const char* key = field == TagField::genre ? "GENRE" : "COMMENT";
    x->removeFields(key);
    for (const auto& v : values) x->addField(key, tstring(v), false);
    return;
  }
  if (auto* id3 = dynamic_cast<TagLib::ID3v2::Tag*>(s.tag); id3 && field == TagField::genre) {
    id3->removeFrames("TCON");
    if (values.empty()) return;
    auto* frame = new TagLib::ID3v2::TextIdentificationFrame("TCON", TagLib::String::UTF8);
    TagLib::StringList list;
    for (const auto& v : values) list.append(tstring(v));
    frame->setText(list);
    id3->addFrame(frame);  // the tag owns it
    return;
  }
  const TagLib::String v = values.empty() ? TagLib::String() : tstring(values.front());
  if (field == TagField::genre)
    s.tag->setGenre(v);
  else
    s.tag->setComment(v);
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : "; ") + s;
  return out;
}

}  // namespace

std::string FieldValues::shown() const {
  for (const auto& [kind, values] : by_tag)
    if (!values.empty()) return join(values);
  return "";
}

bool FieldValues::all_say(const std::string& value) const {
  for (const auto& [kind, values] : by_tag)
    if (kind != "id3v1" && values != std::vector<std::string>{value}) return false;
  return !by_tag.empty();
}

FieldValues FieldValues::with_value(const std::string& value) const {
  FieldValues out = *this;
  for (auto& [kind, values] : out.by_tag) values = value.empty() ? std::vector<std::string>{} : std::vector<std::string>{value};
  return out;
}

std::string FieldValues::to_json() const {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& [kind, values] : by_tag) j.push_back({kind, values});
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

FieldValues FieldValues::from_json(const std::string& json, const std::string& origin) {
  FieldValues out;
  try {
    for (const auto& e : nlohmann::json::parse(json)) out.by_tag.emplace_back(e.at(0).get<std::string>(), e.at(1).get<std::vector<std::string>>());
  } catch (const std::exception& e) {
    throw Error(origin, std::string("a damaged record of old tag values: ") + e.what());
  }
  return out;
}

FieldValues read_field(const std::filesystem::path& file, TagField field) {
  TaggedFile f(file, false);
  FieldValues out;
  for (const auto& s : f.slots()) out.by_tag.emplace_back(s.kind, get(s, field));
  return out;
}

FileLabels read_labels(const std::filesystem::path& file) {
  TaggedFile f(file, false);
  FileLabels out;
  for (const auto& s : f.slots()) {
    if (out.genres.empty()) out.genres = get(s, TagField::genre);
    if (out.artist.empty() && s.tag) out.artist = utf8(s.tag->artist());
    if (out.album.empty() && s.tag) out.album = utf8(s.tag->album());
  }
  // The album's artist where a tag names one (a compilation's tracks have many artists, one album).
  const TagLib::PropertyMap properties = f.file()->properties();
  if (const auto it = properties.find("ALBUMARTIST"); it != properties.end() && !it->second.isEmpty())
    out.album_artist = utf8(it->second.front());
  return out;
}

void write_field(const std::filesystem::path& file, TagField field, const FieldValues& values) {
  TaggedFile f(file, true);
  for (const auto& [kind, list] : values.by_tag) {
    bool found = false;
    for (const auto& s : f.slots())
      if (s.kind == kind) {
        set(s, field, list);
        found = true;
      }
    if (!found) throw Error(file.string(), "has no " + kind + " tag to restore (was it converted to another format?)");
  }
  f.save();
}

}  // namespace genrenet::tags
