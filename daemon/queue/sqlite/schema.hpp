// The SQLite queue's schema: the connection settings (WAL, synchronous=FULL, a read-only
// reader) and the migrations that take a database file to this build's schema version.
//
// Threading: called by the queue's constructor on a connection no thread uses yet. Both throw
// std::runtime_error when the file cannot be configured or migrated (startup fails).
#pragma once

#include "daemon/queue/sqlite/connection.hpp"

namespace tinbao::queue::sqlite_detail {

// `writer`: the write connection (switches the file to WAL); otherwise a query-only reader.
void configure(Db& db, bool writer);
// Creates the tables, or migrates an older schema inside a transaction per step.
void migrate(Db& db);

}  // namespace tinbao::queue::sqlite_detail
