// The tag journal on SQLite (Debian's libsqlite3-dev): one small table, a statement per operation, every
// change its own transaction so that a kill loses nothing that was reported as written.
#include "library/tag_journal.h"

#include <sqlite3.h>

#include <genrenet/genrenet.h>

namespace genrenet::tags {

struct TagJournal::Impl {
  std::string name;
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
};

namespace {
constexpr const char* kColumns = "path, sha256_before, sha256_after, status, rule, old_values, new_value, genre, message, confidence";
void bind(sqlite3_stmt* s, int i, const std::string& v) { sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT); }
}  // namespace

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
    auto put = impl_->prepare("INSERT INTO genrenet_tag_journal (key, value) VALUES ('field', ?1)");
    bind(put.s, 1, field);
    if (sqlite3_step(put.s) != SQLITE_DONE) impl_->fail("cannot be written");
  } else if (!field.empty() && stored != field) {
    throw Error(file.string(), "is the journal of the " + stored + " field, not of " + field + ": give another --journal");
  }
}

TagJournal::~TagJournal() = default;
TagJournal::TagJournal(TagJournal&&) noexcept = default;

std::string TagJournal::field() const {
  sqlite3_stmt* get = nullptr;  // not Impl::prepare: a database without the table is "no field", not damaged
  if (sqlite3_prepare_v2(impl_->db, "SELECT value FROM genrenet_tag_journal WHERE key = 'field'", -1, &get, nullptr) != SQLITE_OK) {
    sqlite3_finalize(get);
    if (sqlite3_errcode(impl_->db) == SQLITE_NOTADB) impl_->fail("is not a usable genrenet tag journal");
    return "";
  }
  const std::string out = sqlite3_step(get) == SQLITE_ROW ? Impl::text(get, 0) : "";
  sqlite3_finalize(get);
  return out;
}

std::optional<JournalRow> TagJournal::find(const std::string& path) const {
  auto q = impl_->prepare((std::string("SELECT ") + kColumns + " FROM files WHERE path = ?1").c_str());
  bind(q.s, 1, path);
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
    bind(q.s, i++, *v);
  sqlite3_bind_double(q.s, 10, r.confidence);
  if (sqlite3_step(q.s) != SQLITE_DONE) impl_->fail("cannot be written");
}

std::vector<JournalRow> TagJournal::rows(const std::string& status) const {
  auto q = impl_->prepare((std::string("SELECT ") + kColumns + " FROM files WHERE status = ?1 ORDER BY path").c_str());
  bind(q.s, 1, status);
  std::vector<JournalRow> out;
  int rc;
  while ((rc = sqlite3_step(q.s)) == SQLITE_ROW) out.push_back(Impl::row_of(q.s));
  if (rc != SQLITE_DONE) impl_->fail("cannot be read");
  return out;
}

}  // namespace genrenet::tags
