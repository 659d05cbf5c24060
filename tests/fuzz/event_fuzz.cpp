// libFuzzer target for the event parser (the body of POST /v1/events and of a Redis stream
// entry). An accepted event must read back from its queued bytes as the same event: what the
// API accepted, the pipeline can process (a 202 is never followed by a loss).
#include "daemon/pipeline/event.hpp"

#include <boost/json.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

std::optional<std::string> canonical(std::string_view s) {
    if (s == "received" || s == "result_ready" || s == "processing") return std::string(s);
    if (s == "4") return std::string("processing");
    return std::nullopt;
}

bool single_line(std::string_view s) {
    for (unsigned char c : s)
        if (c < 0x20 || c == 0x7F) return false;
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    const std::string_view body(reinterpret_cast<const char*>(data), size);
    tinbao::EventParse r = tinbao::parse_event(body, canonical);
    check(r.event.has_value() != r.error.has_value());
    if (r.error) {
        check(!r.error->code.empty() && !r.error->message.empty());
        return 0;
    }
    const tinbao::Event& ev = *r.event;
    check(ev.raw == body);
    check(!ev.event_id.empty() && !ev.dossier_code.empty() && single_line(ev.dossier_code));
    check(!ev.phone.empty() || !ev.email.empty() || !ev.zalo_user_id.empty());
    tinbao::EventParse again = tinbao::parse_event(ev.raw, canonical);
    check(again.event && again.event->json == ev.json);
    // What the render preview and the records write must be JSON that parses back. Not always
    // to the same value: Boost.JSON 1.81 may read a number of more significant digits than a
    // double holds one unit in the last place apart from the double it wrote (the queue keeps
    // the bytes the client sent, so nothing is lost by it).
    boost::system::error_code ec;
    boost::json::value back = boost::json::parse(boost::json::serialize(ev.json), ec);
    check(!ec && back.is_object() && back.as_object().size() == ev.json.as_object().size());
    return 0;
}
