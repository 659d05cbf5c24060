// The SQLite connection wrapper: one sqlite3 handle with a cache of prepared statements and a
// sticky error, so that an operation reads as straight-line code checked once at the end.
//
// Threading: a Db is used by one thread at a time (the worker thread that owns it; the
// constructor of the queue before the threads start). Ownership: a Db owns its handle and its
// cached statements; a Stmt borrows one cached statement and resets it when it goes away.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>

namespace tinbao::queue::sqlite_detail {

// A connection with a sticky error: once a statement fails, the following ones do nothing
// until clear(), so an operation is written as straight-line code and checked once at the end.
class Db {
  public:
    class Stmt {
      public:
        Stmt(Db& db, sqlite3_stmt* s) : db_(db), s_(s) {}
        Stmt(Stmt&& o) noexcept : db_(o.db_), s_(std::exchange(o.s_, nullptr)) {}
        Stmt(const Stmt&) = delete;
        Stmt& operator=(const Stmt&) = delete;
        ~Stmt() {
            if (s_) {
                sqlite3_reset(s_);
                sqlite3_clear_bindings(s_);
            }
        }
        // Steps once: true while there is a row.
        bool next() {
            if (!s_ || db_.failed()) return false;
            int rc = sqlite3_step(s_);
            if (rc == SQLITE_ROW) return true;
            if (rc != SQLITE_DONE) db_.fail(rc);
            return false;
        }
        void run() {
            while (next()) {
            }
        }
        int64_t i64(int col) const { return sqlite3_column_int64(s_, col); }
        bool null(int col) const { return sqlite3_column_type(s_, col) == SQLITE_NULL; }
        std::string text(int col) const {
            auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, col));
            return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(s_, col)))
                     : std::string();
        }

      private:
        friend class Db;
        template <class T>
        void bind(int i, const T& v) {
            if constexpr (std::is_same_v<T, std::nullptr_t>) {
                check(sqlite3_bind_null(s_, i));
            } else if constexpr (std::is_integral_v<T>) {
                check(sqlite3_bind_int64(s_, i, static_cast<sqlite3_int64>(v)));
            } else {
                std::string_view t(v);
                check(sqlite3_bind_text(s_, i, t.data(), static_cast<int>(t.size()),
                                        SQLITE_TRANSIENT));
            }
        }
        void check(int rc) {
            if (rc != SQLITE_OK) db_.fail(rc);
        }
        Db& db_;
        sqlite3_stmt* s_;
    };

    Db(const std::filesystem::path& file, const char* name);
    Db(const Db&) = delete;
    Db& operator=(const Db&) = delete;
    ~Db();

    // A cached prepared statement with its parameters bound (1-based, in order).
    template <class... A>
    Stmt query(std::string_view sql, const A&... args) {
        if (failed_) return Stmt(*this, nullptr);
        sqlite3_stmt* s = nullptr;
        if (auto it = cache_.find(sql); it != cache_.end()) {
            s = it->second;
        } else {
            int rc = sqlite3_prepare_v3(h_, sql.data(), static_cast<int>(sql.size()),
                                        SQLITE_PREPARE_PERSISTENT, &s, nullptr);
            if (rc != SQLITE_OK) {
                fail(rc);
                return Stmt(*this, nullptr);
            }
            cache_.emplace(sql, s);
        }
        Stmt st(*this, s);
        int i = 0;
        (st.bind(++i, args), ...);
        return st;
    }
    template <class... A>
    void exec(std::string_view sql, const A&... args) {
        query(sql, args...).run();
    }
    // Statements outside the cache (schema, transactions); ignores the sticky error.
    bool raw(const char* sql);
    int64_t changes() const { return sqlite3_changes64(h_); }
    int64_t last_rowid() const { return sqlite3_last_insert_rowid(h_); }
    int64_t total_changes() const { return sqlite3_total_changes64(h_); }
    // Whether a statement failed because the database cannot be written (disk full, I/O error,
    // read-only, broken file) since the last call: not the fault of one operation.
    bool take_storage_error() { return std::exchange(storage_error_, false); }

    bool failed() const { return failed_; }
    const std::string& error() const { return error_; }
    void clear() {
        failed_ = false;
        error_.clear();
    }
    void fail(int rc);
    void fail(const char* why) {
        if (failed_) return;
        failed_ = true;
        error_ = why;
    }
    const char* name() const { return name_; }

  private:
    void note(int rc);
    bool storage_error_ = false;
    const char* name_;
    sqlite3* h_ = nullptr;
    bool failed_ = false;
    std::string error_;
    std::unordered_map<std::string_view, sqlite3_stmt*> cache_;
};

}  // namespace tinbao::queue::sqlite_detail
