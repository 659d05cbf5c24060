#include "daemon/queue/sqlite/connection.hpp"

#include <stdexcept>

namespace tinbao::queue::sqlite_detail {

Db::Db(const std::filesystem::path& file, const char* name) : name_(name) {
    int rc =
        sqlite3_open_v2(file.c_str(), &h_,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
        std::string why = h_ ? sqlite3_errmsg(h_) : sqlite3_errstr(rc);
        sqlite3_close(h_);
        h_ = nullptr;
        throw std::runtime_error("cannot open " + file.string() + ": " + why);
    }
    sqlite3_busy_timeout(h_, 5000);
    sqlite3_extended_result_codes(h_, 1);
}

Db::~Db() {
    for (auto& [sql, s] : cache_) sqlite3_finalize(s);
    sqlite3_close(h_);
}

bool Db::raw(const char* sql) {
    char* err = nullptr;
    int rc = sqlite3_exec(h_, sql, nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
        note(rc);
        error_ = err ? err : sqlite3_errstr(rc);
        sqlite3_free(err);
        return false;
    }
    return true;
}

void Db::fail(int rc) {
    note(rc);
    if (failed_) return;
    failed_ = true;
    error_ = std::string(sqlite3_errstr(rc)) + ": " + sqlite3_errmsg(h_);
}

void Db::note(int rc) {
    switch (rc & 0xff) {
        case SQLITE_FULL:
        case SQLITE_IOERR:
        case SQLITE_READONLY:
        case SQLITE_CANTOPEN:
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB:
            storage_error_ = true;
            break;
        default:
            break;
    }
}

}  // namespace tinbao::queue::sqlite_detail
