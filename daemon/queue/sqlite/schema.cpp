#include "daemon/queue/sqlite/schema.hpp"

#include <iterator>
#include <stdexcept>
#include <string>

namespace tinbao::queue::sqlite_detail {

namespace {

constexpr int kSchemaVersion = 4;

// Each step takes the schema from version i to i + 1.
const char* const kMigrations[] = {
    R"sql(
CREATE TABLE events (
  event_id TEXT PRIMARY KEY, entry_id TEXT, state TEXT NOT NULL, status TEXT,
  dossier_code TEXT, msgs TEXT, created_at INTEGER, updated_at INTEGER,
  expires_at INTEGER NOT NULL);
CREATE INDEX events_created ON events(created_at);
CREATE INDEX events_expires ON events(expires_at);
CREATE TABLE entries (
  id INTEGER PRIMARY KEY AUTOINCREMENT, payload TEXT NOT NULL, source TEXT NOT NULL,
  owner TEXT, leased_until INTEGER NOT NULL DEFAULT 0, acked INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL);
CREATE INDEX entries_pending ON entries(owner, id) WHERE acked = 0;
CREATE INDEX entries_lease ON entries(leased_until) WHERE acked = 0 AND owner IS NOT NULL;
CREATE INDEX entries_acked ON entries(created_at) WHERE acked = 1;
CREATE TABLE messages (
  id TEXT PRIMARY KEY, event_id TEXT, dossier_code TEXT NOT NULL, state TEXT NOT NULL,
  created_at INTEGER NOT NULL, json TEXT NOT NULL, expires_at INTEGER NOT NULL);
CREATE INDEX messages_dossier ON messages(dossier_code, created_at);
CREATE INDEX messages_created ON messages(created_at);
CREATE INDEX messages_expires ON messages(expires_at);
CREATE TABLE jobs (message_id TEXT PRIMARY KEY, due_ms INTEGER NOT NULL, payload TEXT NOT NULL);
CREATE INDEX jobs_due ON jobs(due_ms);
CREATE TABLE dead (
  message_id TEXT PRIMARY KEY, at_ms INTEGER NOT NULL, reason TEXT NOT NULL,
  payload TEXT NOT NULL);
CREATE INDEX dead_at ON dead(at_ms);
CREATE TABLE invalid (
  id INTEGER PRIMARY KEY AUTOINCREMENT, entry_id TEXT, payload TEXT, reason TEXT,
  at_ms INTEGER NOT NULL);
CREATE TABLE callbacks (key TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE locks (key TEXT PRIMARY KEY, owner TEXT NOT NULL, until_ms INTEGER NOT NULL);
)sql",
    // 2: state values that expire (StateStore::put_for); NULL: kept.
    R"sql(
ALTER TABLE state ADD COLUMN expires_at INTEGER;
)sql",
    // 3: citizens' feedback (ratings), listed by dossier.
    R"sql(
CREATE TABLE feedback (
  id TEXT PRIMARY KEY, dossier_code TEXT NOT NULL, submitted_at INTEGER NOT NULL,
  json TEXT NOT NULL, expires_at INTEGER NOT NULL);
CREATE INDEX feedback_dossier ON feedback(dossier_code, submitted_at);
CREATE INDEX feedback_expires ON feedback(expires_at);
)sql",
    // 4: call-backs to API clients (docs/callbacks.md): due_ms is the next attempt (dead = 1:
    // when it became a dead letter); expires_at as for events.
    R"sql(
CREATE TABLE webhooks (
  id TEXT PRIMARY KEY, client TEXT NOT NULL, kind TEXT NOT NULL, body TEXT NOT NULL,
  created_at INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '', due_ms INTEGER NOT NULL, dead INTEGER NOT NULL DEFAULT 0,
  expires_at INTEGER NOT NULL);
CREATE INDEX webhooks_due ON webhooks(client, due_ms) WHERE dead = 0;
CREATE INDEX webhooks_dead ON webhooks(due_ms) WHERE dead = 1;
)sql",
};
static_assert(std::size(kMigrations) == kSchemaVersion);

}  // namespace

void configure(Db& db, bool writer) {
    // WAL: readers never block the writer. FULL: see the header (power cuts).
    if (writer && !db.raw("PRAGMA journal_mode=WAL"))
        throw std::runtime_error("cannot enable WAL: " + db.error());
    if (!db.raw("PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF"))
        throw std::runtime_error("cannot configure the database: " + db.error());
    if (!writer && !db.raw("PRAGMA query_only=1"))
        throw std::runtime_error("cannot configure the read connection: " + db.error());
}

void migrate(Db& db) {
    if (!db.raw("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"))
        throw std::runtime_error("cannot create schema_version: " + db.error());
    int64_t version = 0;
    {
        auto st = db.query("SELECT max(version) FROM schema_version");
        if (st.next() && !st.null(0)) version = st.i64(0);
    }
    if (db.failed()) throw std::runtime_error("cannot read schema_version: " + db.error());
    if (version > kSchemaVersion)
        throw std::runtime_error("the database has schema version " + std::to_string(version) +
                                 ", newer than this build's " + std::to_string(kSchemaVersion));
    for (int64_t v = version; v < kSchemaVersion; ++v) {
        bool ok = db.raw("BEGIN IMMEDIATE") && db.raw(kMigrations[v]);
        if (ok) {
            db.exec("DELETE FROM schema_version");
            db.exec("INSERT INTO schema_version (version) VALUES (?)", v + 1);
            ok = !db.failed() && db.raw("COMMIT");
        }
        if (!ok) {
            std::string why = db.error();
            db.raw("ROLLBACK");
            throw std::runtime_error("cannot migrate the schema to version " +
                                     std::to_string(v + 1) + ": " + why);
        }
    }
}

}  // namespace tinbao::queue::sqlite_detail
