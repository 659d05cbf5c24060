#include "daemon/ctl_reminders.hpp"

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <cstdio>

#include "daemon/ctl_output.hpp"

namespace json = boost::json;

namespace tinbao::ctl {

const char* const kRemindersHelp =
    "usage: tinbaoctl [...] reminders list [--dossier CODE] [--limit N]\n"
    "       tinbaoctl [...] reminders cancel ID...\n"
    "list: reminders waiting to be sent (config `reminders:`), soonest due first: id,\n"
    "rule, dossier, channel and due time. cancel: they are not sent (their records say\n"
    "superseded, reason cancelled). cancel exits 1 when an id is no pending reminder.\n"
    "The token needs the admin scope.\n";

int reminders_command(const Api& api, const std::vector<std::string>& args, bool json_out) {
    if (args.empty()) {
        std::fputs(kRemindersHelp, stderr);
        return 2;
    }
    std::string dossier, limit;
    std::vector<std::string> ids;
    for (size_t i = 1; i < args.size(); ++i) {
        if (args[i] == "--dossier" && i + 1 < args.size()) {
            dossier = args[++i];
        } else if (args[i] == "--limit" && i + 1 < args.size()) {
            limit = args[++i];
        } else if (!args[i].empty() && args[i][0] == '-') {
            std::fprintf(stderr, "tinbaoctl reminders: unknown option %s\n", args[i].c_str());
            return 2;
        } else if (std::find(ids.begin(), ids.end(), args[i]) == ids.end()) {
            ids.push_back(args[i]);
        }
    }
    if (args[0] == "list" && ids.empty()) {
        std::string q = "/v1/reminders?limit=" + (limit.empty() ? "100" : escape(limit));
        if (!dossier.empty()) q += "&dossier=" + escape(dossier);
        auto a = call(api, "GET", q);
        if (!a.ok() || !a.json || !a.json->is_object()) return print_failure(a, json_out);
        if (json_out) {
            std::printf("%s\n", pretty(*a.json).c_str());
            return 0;
        }
        auto* list = a.json->as_object().if_contains("reminders");
        if (!list || !list->is_array() || list->as_array().empty()) {
            std::printf("no pending reminders%s\n",
                        dossier.empty() ? "" : (" for dossier " + dossier).c_str());
            return 0;
        }
        Table t({"ID", "REMINDER", "DOSSIER", "CHANNEL", "DUE", "ATTEMPTS"});
        for (auto& v : list->as_array()) {
            if (!v.is_object()) continue;
            auto& o = v.as_object();
            t.add({cell(o, "id"), cell(o, "reminder"), cell(o, "dossier_code"), cell(o, "channel"),
                   cell(o, "due_at"), cell(o, "attempts")});
        }
        t.print();
        return 0;
    }
    if (args[0] == "cancel" && !ids.empty() && dossier.empty() && limit.empty()) {
        json::array list;
        for (auto& id : ids) list.push_back(json::value(id));
        auto a = call(api, "POST", "/v1/reminders/cancel",
                      json::serialize(json::object{{"ids", std::move(list)}}));
        if (!a.ok() || !a.json || !a.json->is_object()) return print_failure(a, json_out);
        auto& o = a.json->as_object();
        std::string unknown;
        if (auto* u = o.if_contains("unknown"); u && u->is_array())
            for (auto& x : u->as_array()) unknown += (unknown.empty() ? "" : " ") + cell(&x);
        if (json_out)
            std::printf("%s\n", pretty(*a.json).c_str());
        else
            std::printf("cancelled %s\n", cell(o, "cancelled").c_str());
        if (!unknown.empty()) {
            std::fprintf(stderr, "tinbaoctl: no pending reminder: %s\n", unknown.c_str());
            return 1;
        }
        return 0;
    }
    std::fputs(kRemindersHelp, stderr);
    return 2;
}

}  // namespace tinbao::ctl
