// The journal of `genrenet tag` (SQLite): everything genrenet reads back from one — its field and id, the rows
// and the old values undo restores, the writes in progress — from a journal whose cells hold the input (split
// at 0x1F into field, path, status, old values, pending phase, pending row), or from the input as the
// database file itself when it starts as one ("SQLite format 3"). Every genrenet::Error is an answer.
#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <vector>

#include <genrenet/genrenet.h>

#include "fuzz_util.h"
#include "library/audio_tags.h"
#include "library/tag_journal.h"

namespace {

std::vector<std::string> cells(const std::string& input, size_t n) {
  std::vector<std::string> out(n);
  size_t at = 0;
  for (size_t i = 0; i < n && at <= input.size(); ++i) {
    const size_t end = std::min(input.find('\x1f', at), input.size());
    out[i] = input.substr(at, end - at);
    at = end + 1;
  }
  return out;
}

// A journal made by genrenet, then given the input's cells as its content.
void fill(const std::filesystem::path& path, const std::string& input) {
  std::filesystem::remove(path);
  { genrenet::tags::TagJournal made(path, genrenet::tags::TagJournal::Mode::create, "genre"); }
  const auto c = cells(input, 6);
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  const char* sql[] = {"UPDATE genrenet_tag_journal SET value = ?1 WHERE key = 'field'",
                       "INSERT INTO files (path, sha256_before, sha256_after, status, rule, old_values, new_value, genre,"
                       " message, confidence) VALUES (?2, 'a', 'b', ?3, 'r', ?4, 'n', 'g', '', 0.5)",
                       "INSERT INTO pending (path, phase, sha256_before, sha256_after, copy, row) VALUES (?2, ?5, 'a', 'b', 'c', ?6)"};
  for (const char* q : sql) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db, q, -1, &s, nullptr) == SQLITE_OK) {
      for (int i = 1; i <= 6; ++i)
        if (sqlite3_bind_parameter_index(s, ("?" + std::to_string(i)).c_str()) > 0)
          sqlite3_bind_text(s, i, c[i - 1].data(), static_cast<int>(c[i - 1].size()), SQLITE_TRANSIENT);
      sqlite3_step(s);
    }
    sqlite3_finalize(s);
  }
  sqlite3_close(db);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, size_t size) {
  using namespace genrenet;
  const std::string input(reinterpret_cast<const char*>(data), size);
  std::filesystem::path path;
  if (input.rfind("SQLite format 3", 0) == 0) {
    path = fuzz::input_file(data, size, ".sqlite");
  } else {
    path = fuzz::input_file(data, 0, ".sqlite");
    fill(path, input);
  }
  for (const auto mode : {tags::TagJournal::Mode::read_only, tags::TagJournal::Mode::existing}) {
    try {
      tags::TagJournal j(path, mode, "");
      j.field();
      j.id();
      j.find("x");
      for (const char* status : {"written", "restored", "unchanged", "left alone"})
        for (const auto& r : j.rows(status)) try {
            tags::FieldValues::from_json(r.old_values, path.string()).shown();
          } catch (const Error&) {
          }
      for (const auto& p : j.all_pending()) tags::FieldValues::from_json(p.row.old_values, path.string()).shown();
    } catch (const Error&) {
    }
  }
  return 0;
}
