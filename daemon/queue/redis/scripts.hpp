// The Redis backend's Lua scripts, written in daemon/queue/redis/*.lua and embedded at build
// time (embed_lua.cmake): each is the text of its file. `shared` and `notices` hold helpers that
// other scripts start with.
//
// Constants; thread-safe.
#pragma once

namespace tinbao::queue::lua {

extern const char shared[];
extern const char ingest[];
extern const char claim[];
extern const char commit[];
extern const char take_due[];
extern const char dead_jobs[];
extern const char discard_dead[];
extern const char report[];
extern const char waiting[];
extern const char unlock[];
extern const char notices[];
extern const char callbacks[];

}  // namespace tinbao::queue::lua
