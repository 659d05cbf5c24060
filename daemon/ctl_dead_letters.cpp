#include "daemon/ctl_dead_letters.hpp"

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <cstdint>
#include <cstdio>

#include "daemon/ctl_output.hpp"

namespace json = boost::json;

namespace tinbao::ctl {

const char* const kDeadLettersHelp =
    "usage: tinbaoctl [...] dlq list [--reason R] [--limit N]\n"
    "       tinbaoctl [...] dlq replay ID... | dlq replay --reason R\n"
    "       tinbaoctl [...] dlq discard ID...\n"
    "list: failed and expired messages, newest first, with reasons. replay: send\n"
    "them again once the cause is fixed (templates rendered anew; the attempts and\n"
    "give_up_after start over). discard: remove them for good; their records stay\n"
    "as they ended. replay and discard exit 1 when an id is not a dead letter (or\n"
    "no dead letter has the reason). The token needs the admin scope.\n";

const char* const kCallbacksHelp =
    "usage: tinbaoctl [...] callbacks list [--client NAME] [--limit N]\n"
    "       tinbaoctl [...] callbacks replay ID... | callbacks replay --client NAME\n"
    "list: call-backs to API clients that became dead letters (the receiver kept\n"
    "failing until retry.callback_give_up_after, refused the document with a 4xx,\n"
    "or answered 410), newest first, with the last error. replay: send them again,\n"
    "same webhook-id, attempts and give-up time from zero. replay exits 1 when an\n"
    "id is not a dead call-back (or the client has none). The token needs the admin\n"
    "scope.\n";

namespace {

// The arguments after a dead-letter command's verb (args[0]): `<filter> V`, `--limit N` and ids,
// each id once. False, having said why, on an unknown option.
bool read_dead_letter_args(const std::vector<std::string>& args, const char* command,
                           const std::string& filter_flag, std::string& filter, std::string& limit,
                           std::vector<std::string>& ids) {
    for (size_t i = 1; i < args.size(); ++i) {
        if (args[i] == filter_flag && i + 1 < args.size())
            filter = args[++i];
        else if (args[i] == "--limit" && i + 1 < args.size())
            limit = args[++i];
        else if (!args[i].empty() && args[i][0] == '-') {
            std::fprintf(stderr, "tinbaoctl %s: unknown option %s\n", command, args[i].c_str());
            return false;
        } else if (std::find(ids.begin(), ids.end(), args[i]) == ids.end())
            ids.push_back(args[i]);
    }
    return true;
}

// POSTs a replay of `ids`, or of all that `filter_key` (reason, client) names, to `path`, and
// prints how many were replayed. 1, having said why, when some of the ids were not replayed
// (`not_all`) or the filter matched nothing (`none`).
int replay(const Api& api, const char* path, const char* filter_key, const std::string& filter,
           const std::vector<std::string>& ids, bool json_out, const char* not_all,
           const std::string& none) {
    json::object body;
    if (!filter.empty()) body[filter_key] = filter;
    json::array list;
    for (auto& id : ids) list.push_back(json::value(id));
    if (!ids.empty()) body["ids"] = std::move(list);
    auto a = call(api, "POST", path, json::serialize(body));
    if (!a.ok() || !a.json || !a.json->is_object()) return print_failure(a, json_out);
    auto* n = a.json->as_object().if_contains("replayed");
    int64_t replayed = n && n->is_int64() ? n->as_int64() : 0;
    if (n && n->is_uint64()) replayed = static_cast<int64_t>(n->as_uint64());
    if (json_out)
        std::printf("%s\n", pretty(*a.json).c_str());
    else
        std::printf("replayed %lld\n", static_cast<long long>(replayed));
    if (!ids.empty() && replayed < static_cast<int64_t>(ids.size())) {
        std::fprintf(stderr, "tinbaoctl: %lld of %zu id(s) %s\n",
                     static_cast<long long>(static_cast<int64_t>(ids.size()) - replayed),
                     ids.size(), not_all);
        return 1;
    }
    if (ids.empty() && replayed == 0) {
        std::fprintf(stderr, "tinbaoctl: %s\n", none.c_str());
        return 1;
    }
    return 0;
}

}  // namespace

int dead_letters_command(const Api& api, const std::vector<std::string>& args, bool json_out) {
    // args: list [--reason R] [--limit N] | replay ID... | replay --reason R | discard ID...
    std::string reason, limit;
    std::vector<std::string> ids;
    if (!read_dead_letter_args(args, "dlq", "--reason", reason, limit, ids)) return 2;
    if (args[0] == "list" && ids.empty()) {
        std::string q = "/v1/dead-letters?limit=" + (limit.empty() ? "100" : escape(limit));
        if (!reason.empty()) q += "&reason=" + escape(reason);
        auto a = call(api, "GET", q);
        if (!a.ok() || !a.json || !a.json->is_object()) return print_failure(a, json_out);
        if (json_out) {
            std::printf("%s\n", pretty(*a.json).c_str());
            return 0;
        }
        auto* list = a.json->as_object().if_contains("dead_letters");
        if (!list || !list->is_array() || list->as_array().empty())
            std::printf("no dead letters%s\n",
                        reason.empty() ? "" : (" with reason " + reason).c_str());
        else
            print_messages(list->as_array(), true, true);
        return 0;
    }
    if (args[0] == "replay" && (ids.empty() != reason.empty()))
        return replay(api, "/v1/dead-letters/replay", "reason", reason, ids, json_out,
                      "were not dead letters (tinbaoctl dlq list)",
                      "no dead letter has reason " + reason);
    if (args[0] == "discard" && !ids.empty() && reason.empty() && limit.empty()) {
        json::array list;
        for (auto& id : ids) list.push_back(json::value(id));
        auto a = call(api, "POST", "/v1/dead-letters/discard",
                      json::serialize(json::object{{"ids", std::move(list)}}));
        if (!a.ok() || !a.json || !a.json->is_object()) return print_failure(a, json_out);
        auto& o = a.json->as_object();
        std::string unknown;
        if (auto* u = o.if_contains("unknown"); u && u->is_array())
            for (auto& x : u->as_array()) unknown += (unknown.empty() ? "" : " ") + cell(&x);
        if (json_out)
            std::printf("%s\n", pretty(*a.json).c_str());
        else
            std::printf("discarded %s\n", cell(o, "discarded").c_str());
        if (!unknown.empty()) {
            std::fprintf(stderr, "tinbaoctl: not dead letters: %s\n", unknown.c_str());
            return 1;
        }
        return 0;
    }
    std::fputs(kDeadLettersHelp, stderr);
    return 2;
}

int callbacks_command(const Api& api, const std::vector<std::string>& args, bool json_out) {
    std::string client, limit;
    std::vector<std::string> ids;
    if (!read_dead_letter_args(args, "callbacks", "--client", client, limit, ids)) return 2;
    if (args[0] == "list" && ids.empty()) {
        std::string q =
            "/v1/webhooks/dead-letters?limit=" + (limit.empty() ? "100" : escape(limit));
        if (!client.empty()) q += "&client=" + escape(client);
        auto a = call(api, "GET", q);
        if (!a.ok() || !a.json || !a.json->is_object()) return print_failure(a, json_out);
        if (json_out) {
            std::printf("%s\n", pretty(*a.json).c_str());
            return 0;
        }
        auto* list = a.json->as_object().if_contains("dead_letters");
        if (!list || !list->is_array() || list->as_array().empty()) {
            std::printf("no dead call-backs%s\n",
                        client.empty() ? "" : (" for client " + client).c_str());
            return 0;
        }
        Table t({"id", "client", "kind", "attempts", "dead at", "last error"}, 72);
        for (auto& v : list->as_array()) {
            if (!v.is_object()) continue;
            auto& o = v.as_object();
            t.add({cell(o, "id"), cell(o, "client"), cell(o, "kind"), cell(o, "attempts"),
                   cell(o, "dead_at"), cell(o, "last_error")});
        }
        t.print();
        return 0;
    }
    if (args[0] == "replay" && (ids.empty() != client.empty()) && limit.empty())
        return replay(api, "/v1/webhooks/replay", "client", client, ids, json_out,
                      "were not dead call-backs (tinbaoctl callbacks list)",
                      "client " + client + " has no dead call-backs");
    std::fputs(kCallbacksHelp, stderr);
    return 2;
}

}  // namespace tinbao::ctl
