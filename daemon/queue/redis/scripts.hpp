// The Redis backend's Lua scripts, written in daemon/queue/redis/*.lua and embedded at build
// time (embed_lua.cmake): each is the text of its file. `shared` holds helpers that other
// scripts start with.
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

}  // namespace tinbao::queue::lua
