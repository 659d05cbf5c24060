// The dossier status event as the rest of tinbao sees it once validated: the values the queue
// stores and the pipeline routes on, and the whole document the templates render against.
// Parsing and validation live in the pipeline (they need Unicode normalisation).
//
// A plain value; thread-safe to copy.
#pragma once

#include <boost/json/value.hpp>
#include <string>
#include <vector>

namespace tinbao {

// A validated event. `json` is the whole event with every string NFC-normalised and
// `dossier.status` replaced by the canonical status; templates render against it.
struct Event {
    std::string event_id;
    std::string dossier_code;
    std::string status;            // canonical
    std::string original_status;   // as sent
    std::string phone;             // as sent (may be empty)
    std::string email;             // may be empty
    std::string zalo_user_id;      // may be empty
    std::vector<std::string> channels;  // the event's override, empty when none
    std::string agency_code;            // dossier.agency.code, empty when not given
    std::string procedure_code;         // dossier.procedure.code, empty when not given
    boost::json::value json;
    // The bytes `json` was validated from: what the queue stores and the processor parses again.
    // Never a re-serialisation of `json`, which need not read back as the same event.
    std::string raw;
};

}  // namespace tinbao
