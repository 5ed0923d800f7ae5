// The sqlite plugin: `query` runs its input as SQL against an in-memory
// database private to the worker process and kept across calls. Runs in
// sv-worker. The output, for each statement that returns columns, in order: a
// line of column names, then one line per row; fields are separated by a tab
// and every line ends in '\n'. NULL is written as NULL (so it reads like the
// text 'NULL'), a blob as X'<hex>', and a tab, newline, CR or backslash inside a
// value or name as \t, \n, \r, \\. Statements without columns write nothing.
#include <sqlite3.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "sv/plugin.hpp"

namespace {

using sv::plugin::Output;
using sv::plugin::Status;

void AppendEscaped(std::string_view text, std::string& line) {
  for (char c : text) {
    switch (c) {
      case '\t': line += "\\t"; break;
      case '\n': line += "\\n"; break;
      case '\r': line += "\\r"; break;
      case '\\': line += "\\\\"; break;
      default: line += c;
    }
  }
}

void AppendBlob(const void* data, int size, std::string& line) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  const auto* bytes = static_cast<const unsigned char*>(data);
  line += "X'";
  for (int i = 0; i < size; ++i) {
    line += kHex[bytes[i] >> 4];
    line += kHex[bytes[i] & 0xF];
  }
  line += '\'';
}

// Appends column `i` of the current row; false when sqlite ran out of memory
// converting it.
bool AppendField(sqlite3_stmt* stmt, int i, std::string& line) {
  switch (sqlite3_column_type(stmt, i)) {
    case SQLITE_NULL:
      line += "NULL";
      return true;
    case SQLITE_BLOB:
      AppendBlob(sqlite3_column_blob(stmt, i), sqlite3_column_bytes(stmt, i), line);
      return true;
    default: {
      const unsigned char* text = sqlite3_column_text(stmt, i);
      if (text == nullptr) return false;
      AppendEscaped({reinterpret_cast<const char*>(text), static_cast<std::size_t>(sqlite3_column_bytes(stmt, i))},
                    line);
      return true;
    }
  }
}

// The worker's database. Used only from sv-worker's one call thread.
class Database {
 public:
  Database() = default;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  ~Database() { Close(); }

  Status Open();
  // Runs every statement of `sql` in order, until the first error. Each runs
  // in its own implicit transaction unless the SQL opens one; what ran before
  // an error stays done.
  Status Query(std::string_view sql, Output& out);
  void Close() {
    sqlite3_close_v2(db_);
    db_ = nullptr;
  }

 private:
  Status Run(sqlite3_stmt* stmt, Output& out);
  Status WriteHeader(sqlite3_stmt* stmt, Output& out);
  Status WriteRow(sqlite3_stmt* stmt, std::string& line, Output& out);
  // sqlite's extended result code and sqlite3_errmsg() as the plugin's error.
  Status Failure(int rc) const;

  sqlite3* db_ = nullptr;
};

Status Database::Open() {
  int rc = sqlite3_open_v2(":memory:", &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    // db_ may hold a handle carrying the message, or be NULL when out of memory.
    std::string why = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    Close();
    return Status::Error(rc, "open in-memory database: " + why);
  }
  sqlite3_extended_result_codes(db_, 1);
  return Status::Ok();
}

Status Database::Failure(int rc) const {
  std::string message = std::string("query: ") + sqlite3_errmsg(db_) + " (sqlite code " + std::to_string(rc) + ")";
  // sv-worker reports SV_ERR_OUT_OF_MEMORY as a resource limit, not a plugin error.
  if ((rc & 0xFF) == SQLITE_NOMEM) return Status::Error(SV_ERR_OUT_OF_MEMORY, message);
  return Status::Error(rc, message);
}

Status Database::Query(std::string_view sql, Output& out) {
  const char* next = sql.data();
  const char* end = sql.data() + sql.size();
  while (next != end) {
    // Past SQLITE_LIMIT_SQL_LENGTH (1e9 bytes, below INT_MAX) sqlite refuses
    // the text, so capping the length cannot run a prefix.
    int size = static_cast<int>(std::min<std::ptrdiff_t>(end - next, INT_MAX));
    sqlite3_stmt* raw = nullptr;
    const char* tail = nullptr;
    int rc = sqlite3_prepare_v2(db_, next, size, &raw, &tail);
    std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> stmt(raw, &sqlite3_finalize);
    if (rc != SQLITE_OK) return Failure(rc);
    next = tail;
    if (stmt == nullptr) continue;  // only whitespace or a comment was left
    if (Status s = Run(stmt.get(), out); !s.ok()) return s;
  }
  return Status::Ok();
}

Status Database::Run(sqlite3_stmt* stmt, Output& out) {
  if (sqlite3_column_count(stmt) > 0) {
    if (Status s = WriteHeader(stmt, out); !s.ok()) return s;
  }
  std::string line;
  for (;;) {
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE) return Status::Ok();
    if (rc != SQLITE_ROW) return Failure(rc);
    if (Status s = WriteRow(stmt, line, out); !s.ok()) return s;
  }
}

Status Database::WriteHeader(sqlite3_stmt* stmt, Output& out) {
  std::string line;
  for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
    const char* name = sqlite3_column_name(stmt, i);
    if (name == nullptr) return Status::Error(SV_ERR_OUT_OF_MEMORY, "query: out of memory naming a column");
    if (i != 0) line += '\t';
    AppendEscaped(name, line);
  }
  line += '\n';
  return out.Write(line);
}

Status Database::WriteRow(sqlite3_stmt* stmt, std::string& line, Output& out) {
  line.clear();
  for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
    if (i != 0) line += '\t';
    if (!AppendField(stmt, i, line)) {
      return Status::Error(SV_ERR_OUT_OF_MEMORY, "query: out of memory converting a value");
    }
  }
  line += '\n';
  return out.Write(line);
}

}  // namespace

// plugin_config `page_cache` is accepted and ignored: an in-memory database
// lives entirely in its page cache, so PRAGMA cache_size would not bound it.
// The worker's address-space limit (--limit-as) does; sqlite then fails with
// SQLITE_NOMEM, which reaches the caller as a resource limit.
SV_PLUGIN("sqlite", [](const sv::plugin::Config&, sv::plugin::Registry& methods) {
  auto db = std::make_shared<Database>();
  if (Status s = db->Open(); !s.ok()) return s;
  methods.Method("query", [db](const sv::plugin::Call& call, Output& out) { return db->Query(call.input, out); });
  methods.OnShutdown([db] { db->Close(); });
  return Status::Ok();
});
