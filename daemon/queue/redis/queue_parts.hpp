// What the parts of RedisQueue share (redis_queue.cpp: lifecycle and the write paths;
// redis_lookups.cpp: lookups, dead letters, the StateStore; batcher.cpp: group commit): the
// loaded Lua scripts and the helpers that read Redis replies. Private to the Redis queue.
//
// Threading: constants and pure functions; the scripts are shared by every RedisQueue and used
// on the io_context thread that runs it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "daemon/config/config.hpp"
#include "daemon/io/redis.hpp"
#include "daemon/model/rules.hpp"
#include "daemon/queue/queue.hpp"

namespace tinbao::queue::redis_detail {

inline constexpr const char* kGroup = "tinbao";

// The scripts (daemon/queue/redis/*.lua). Every script that serves many callers at once
// (RedisQueue::Batcher) takes shared arguments first, then each call's arguments, and answers
// one reply per call, in order.
extern const redis::Script kIngest;
extern const redis::Script kClaim;
extern const redis::Script kCommit;
extern const redis::Script kTakeDue;
extern const redis::Script kDeadJobs;
extern const redis::Script kDiscardDead;
extern const redis::Script kReport;
extern const redis::Script kWaiting;
extern const redis::Script kUnlock;
extern const redis::Script kCallbacks;

// The arguments of notices for write_notices (notices.lua), appended to `a`.
void append_notices(redis::Args& a, const std::vector<Notice>& notices);

// waiting_of's flat list {id, created ms, next attempt ms, ...}.
std::vector<WaitingNotice> waiting_from(const redis::Reply& flat);
// Stream ids "<ms>-<seq>" in the order Redis gave them.
bool stream_id_less(const std::string& a, const std::string& b);
redis::Options options_for(const QueueSettings& s, std::string name);
// Entries of one stream in an XREADGROUP / XAUTOCLAIM reply: [[id, [field, value, ...]], ...].
void collect_entries(const redis::Reply& list, std::vector<Entry>& out);

}  // namespace tinbao::queue::redis_detail
