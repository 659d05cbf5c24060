// The dossier status event (docs/api.md): parsing and validation, shared by HTTP ingest and the
// Redis stream consumer so both take exactly the same path.
//
// Pure functions; thread-safe.
#pragma once

#include <boost/json/value.hpp>

#include <functional>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/model/event.hpp"

namespace tinbao {

struct EventLimits {
    std::size_t max_depth = 16;
    std::size_t max_string_bytes = 4096;
};

struct EventError {
    std::string code;     // invalid_json | invalid_utf8 | invalid_event
    std::string message;  // human text
    std::string field;    // dotted path, when one field is at fault
};

struct EventParse {
    std::optional<Event> event;
    std::optional<EventError> error;
};

// `canonical` maps a status or alias to the canonical status (nullopt: unknown status).
EventParse parse_event(std::string_view body,
                       const std::function<std::optional<std::string>(std::string_view)>& canonical,
                       const EventLimits& limits = {});

// `s` as one line of text: each run of control characters (C0, DEL, C1, U+2028, U+2029)
// becomes one space, as in every string value of an event.
std::string one_line(std::string_view s);

// True when `s` is an RFC 3339 date-time ("2026-11-27T08:15:00+07:00", "...Z", fractions
// allowed), with every field in range (leap years, leap second 60).
bool valid_rfc3339(std::string_view s);

}  // namespace tinbao
