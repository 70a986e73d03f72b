// The tag journal on SQLite (Debian's libsqlite3-dev): one small table, a statement per operation, every
// change its own transaction so that a kill loses nothing that was reported as written.
#include "library/tag_journal.h"

#include <sqlite3.h>

#include <random>

#include <nlohmann/json.hpp>

#include <genrenet/genrenet.h>

#include "common/failpoint.h"

namespace genrenet::tags {

struct TagJournal::Impl {
  std::string name;
  std::string id;  // read (or made) once when the journal is opened
  sqlite3* db = nullptr;
  ~Impl() {
    if (db) sqlite3_close(db);
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(name, what + ": " + (db ? sqlite3_errmsg(db) : "cannot be opened"));
  }
  void exec(const char* sql) const {
    char* message = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
      const std::string m = message ? message : "error";
      sqlite3_free(message);
      throw Error(name, "is not a usable genrenet tag journal (" + m + ")");
    }
  }
  // A prepared statement that finalises itself.
  struct Statement {
    sqlite3_stmt* s = nullptr;
    ~Statement() { sqlite3_finalize(s); }
  };
  Statement prepare(const char* sql) const {
    Statement st;
    if (sqlite3_prepare_v2(db, sql, -1, &st.s, nullptr) != SQLITE_OK) fail("is not a usable genrenet tag journal");
    return st;
  }
  static std::string text(sqlite3_stmt* s, int column) {
    const auto* p = sqlite3_column_text(s, column);
    return p ? std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(s, column))) : "";
  }
  static JournalRow row_of(sqlite3_stmt* s) {
    return {text(s, 0), text(s, 1), text(s, 2), text(s, 3), text(s, 4), text(s, 5), text(s, 6), text(s, 7), text(s, 8),
            sqlite3_column_double(s, 9)};
  }
  // A change to the journal (tests make it fail as a full disk would: failpoint "journal").
  void writable(const char* point, const std::string& path) const {
    if (failpoint(point, path)) throw Error(name, "cannot be written: database or disk is full");
  }
  bool pending_table = false;  // false only in a journal of an earlier release opened read only
  bool has_pending_table() const {
    sqlite3_stmt* q = nullptr;
    const bool ok = sqlite3_prepare_v2(db, "SELECT 1 FROM pending LIMIT 0", -1, &q, nullptr) == SQLITE_OK;
    sqlite3_finalize(q);
    return ok;
  }
  std::string meta(const char* key) const;
  void set_meta(const char* key, const std::string& value) const;
  void step_done(Statement& q) const {
    if (sqlite3_step(q.s) != SQLITE_DONE) fail("cannot be written");
  }
};

namespace {
constexpr const char* kPendingColumns = "path, phase, sha256_before, sha256_after, copy, row";
constexpr const char* kColumns = "path, sha256_before, sha256_after, status, rule, old_values, new_value, genre, message, confidence";
void bind_text(sqlite3_stmt* s, int i, const std::string& v) { sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT); }
}  // namespace

std::string TagJournal::Impl::meta(const char* key) const {
  sqlite3_stmt* get = nullptr;  // not prepare(): a database without the table is "no value", not damaged
  if (sqlite3_prepare_v2(db, "SELECT value FROM genrenet_tag_journal WHERE key = ?1", -1, &get, nullptr) != SQLITE_OK) {
    sqlite3_finalize(get);
    if (sqlite3_errcode(db) == SQLITE_NOTADB) fail("is not a usable genrenet tag journal");
    return "";
  }
  sqlite3_bind_text(get, 1, key, -1, SQLITE_STATIC);
  const std::string out = sqlite3_step(get) == SQLITE_ROW ? text(get, 0) : "";
  sqlite3_finalize(get);
  return out;
}

void TagJournal::Impl::set_meta(const char* key, const std::string& value) const {
  auto put = prepare("INSERT OR REPLACE INTO genrenet_tag_journal (key, value) VALUES (?1, ?2)");
  sqlite3_bind_text(put.s, 1, key, -1, SQLITE_STATIC);
  bind_text(put.s, 2, value);
  step_done(put);
}

TagJournal::TagJournal(const std::filesystem::path& file, Mode mode, const std::string& field) : impl_(std::make_unique<Impl>()) {
  impl_->name = file.string();
  if (mode != Mode::create && !std::filesystem::is_regular_file(file)) throw Error(file.string(), "no such journal", ErrorKind::NotFound);
  const int flags = mode == Mode::create     ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
                    : mode == Mode::existing ? SQLITE_OPEN_READWRITE
                                             : SQLITE_OPEN_READONLY;
  if (sqlite3_open_v2(file.c_str(), &impl_->db, flags, nullptr) != SQLITE_OK) impl_->fail("cannot be opened");
  sqlite3_busy_timeout(impl_->db, 10000);  // another genrenet tag on the same journal: wait for it
  if (mode == Mode::create)  // an existing file's tables are never created: it must be a journal already
    impl_->exec("CREATE TABLE IF NOT EXISTS genrenet_tag_journal (key TEXT PRIMARY KEY, value TEXT);"
                "CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, sha256_before TEXT, sha256_after TEXT,"
                " status TEXT, rule TEXT, old_values TEXT, new_value TEXT, genre TEXT, message TEXT, confidence REAL,"
                " updated TEXT DEFAULT CURRENT_TIMESTAMP);");
  const std::string stored = this->field();
  if (stored.empty()) {
    if (mode != Mode::create) throw Error(file.string(), "is not a genrenet tag journal (it records no field)");
    impl_->set_meta("field", field);
  } else if (!field.empty() && stored != field) {
    throw Error(file.string(), "is the journal of the " + stored + " field, not of " + field + ": give another --journal");
  }
  impl_->id = impl_->meta("id");
  impl_->pending_table = impl_->has_pending_table();
  if (mode == Mode::read_only) return;
  // Journals of earlier releases have neither the pending writes nor an id: both are added.
  impl_->exec("CREATE TABLE IF NOT EXISTS pending (path TEXT PRIMARY KEY, phase TEXT, sha256_before TEXT,"
              " sha256_after TEXT, copy TEXT, row TEXT);");
  impl_->pending_table = true;
  if (impl_->id.empty()) {
    std::random_device rd;
    char id[9];
    std::snprintf(id, sizeof id, "%08x", static_cast<unsigned>(rd()));
    impl_->set_meta("id", id);
    impl_->id = id;
  }
}

TagJournal::~TagJournal() = default;
TagJournal::TagJournal(TagJournal&&) noexcept = default;

std::string TagJournal::field() const { return impl_->meta("field"); }
std::string TagJournal::id() const { return impl_->id; }

std::optional<JournalRow> TagJournal::find(const std::string& path) const {
  auto q = impl_->prepare((std::string("SELECT ") + kColumns + " FROM files WHERE path = ?1").c_str());
  bind_text(q.s, 1, path);
  const int rc = sqlite3_step(q.s);
  if (rc == SQLITE_ROW) return Impl::row_of(q.s);
  if (rc != SQLITE_DONE) impl_->fail("cannot be read");
  return std::nullopt;
}

void TagJournal::put(const JournalRow& r) {
  auto q = impl_->prepare((std::string("INSERT OR REPLACE INTO files (") + kColumns +
                           ", updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, CURRENT_TIMESTAMP)").c_str());
  int i = 1;
  for (const std::string* v : {&r.path, &r.sha256_before, &r.sha256_after, &r.status, &r.rule, &r.old_values,
                               &r.new_value, &r.genre, &r.message})
    bind_text(q.s, i++, *v);
  sqlite3_bind_double(q.s, 10, r.confidence);
  impl_->writable("journal-put", r.path);
  impl_->step_done(q);
}

std::vector<JournalRow> TagJournal::rows(const std::string& status) const {
  auto q = impl_->prepare((std::string("SELECT ") + kColumns + " FROM files WHERE status = ?1 ORDER BY path").c_str());
  bind_text(q.s, 1, status);
  std::vector<JournalRow> out;
  int rc;
  while ((rc = sqlite3_step(q.s)) == SQLITE_ROW) out.push_back(Impl::row_of(q.s));
  if (rc != SQLITE_DONE) impl_->fail("cannot be read");
  return out;
}

std::string JournalRow::to_json() const {
  return nlohmann::json({path, sha256_before, sha256_after, status, rule, old_values, new_value, genre, message, confidence})
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

JournalRow JournalRow::from_json(const std::string& json, const std::string& origin) {
  try {
    const auto j = nlohmann::json::parse(json);
    JournalRow r;
    std::string* fields[] = {&r.path, &r.sha256_before, &r.sha256_after, &r.status, &r.rule,
                             &r.old_values, &r.new_value, &r.genre, &r.message};
    if (!j.is_array() || j.size() != 10) throw std::runtime_error("not a list of 10 values");
    for (size_t i = 0; i < 9; ++i) *fields[i] = j.at(i).get<std::string>();
    r.confidence = j.at(9).get<double>();
    return r;
  } catch (const std::exception& e) {
    throw Error(origin, std::string("a damaged record of a write in progress: ") + e.what());
  }
}

void TagJournal::begin(const PendingWrite& w) {
  auto q = impl_->prepare((std::string("INSERT OR REPLACE INTO pending (") + kPendingColumns + ") VALUES (?1, ?2, ?3, ?4, ?5, ?6)").c_str());
  int i = 1;
  for (const std::string* v : {&w.path, &w.phase, &w.sha256_before, &w.sha256_after, &w.copy}) bind_text(q.s, i++, *v);
  bind_text(q.s, 6, w.row.to_json());
  impl_->writable("journal-begin", w.path);
  impl_->step_done(q);
}

void TagJournal::set_phase(const std::string& path, const std::string& phase) {
  auto q = impl_->prepare("UPDATE pending SET phase = ?2 WHERE path = ?1");
  bind_text(q.s, 1, path);
  bind_text(q.s, 2, phase);
  impl_->writable("journal-phase", path);
  impl_->step_done(q);
}

void TagJournal::finish(const PendingWrite& w) {
  impl_->writable("journal-finish", w.path);
  impl_->exec("BEGIN IMMEDIATE");
  try {
    put(w.row);
    drop(w.path);
    impl_->exec("COMMIT");
  } catch (...) {
    sqlite3_exec(impl_->db, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

void TagJournal::drop(const std::string& path) {
  auto q = impl_->prepare("DELETE FROM pending WHERE path = ?1");
  bind_text(q.s, 1, path);
  impl_->step_done(q);
}

namespace {
std::vector<PendingWrite> pending_rows(const TagJournal::Impl& impl, const std::string* path) {
  std::vector<PendingWrite> out;
  if (!impl.pending_table) return out;  // a journal of an earlier release, opened read only
  auto q = impl.prepare((std::string("SELECT ") + kPendingColumns + " FROM pending" + (path ? " WHERE path = ?1" : " ORDER BY path")).c_str());
  if (path) bind_text(q.s, 1, *path);
  int rc;
  while ((rc = sqlite3_step(q.s)) == SQLITE_ROW) {
    using I = TagJournal::Impl;
    out.push_back({I::text(q.s, 0), I::text(q.s, 1), I::text(q.s, 2), I::text(q.s, 3), I::text(q.s, 4),
                   JournalRow::from_json(I::text(q.s, 5), impl.name)});
  }
  if (rc != SQLITE_DONE) impl.fail("cannot be read");
  return out;
}
}  // namespace

std::optional<PendingWrite> TagJournal::pending(const std::string& path) const {
  auto rows = pending_rows(*impl_, &path);
  if (rows.empty()) return std::nullopt;
  return std::move(rows.front());
}

std::vector<PendingWrite> TagJournal::all_pending() const { return pending_rows(*impl_, nullptr); }

}  // namespace genrenet::tags
