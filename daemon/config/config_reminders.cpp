// The `reminders:` section (docs/configuration.md): rules that schedule a later notice from an
// event. Read after the routes and the providers: a rule's channels default to its status's
// route, and whatever channels it has must be served.
#include <algorithm>
#include <set>

#include "daemon/config/config_parts.hpp"

namespace tinbao {

bool ReminderRule::cancelled_by(std::string_view later_status) const {
    if (cancel_on.empty())
        return later_status == "returned" || later_status == "rejected" ||
               later_status == "cancelled";
    return std::find(cancel_on.begin(), cancel_on.end(), later_status) != cancel_on.end();
}

const ReminderRule* Config::reminder(std::string_view name) const {
    for (auto& r : reminders)
        if (r.name == name) return &r;
    return nullptr;
}

namespace config_parts {

namespace {

bool valid_rule_name(std::string_view s) {
    return !s.empty() && s.size() <= 40 && std::all_of(s.begin(), s.end(), [](char ch) {
        return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_';
    });
}

std::string hours(Millis d) {
    auto h = std::chrono::duration_cast<std::chrono::hours>(d).count();
    return h % 24 == 0 ? std::to_string(h / 24) + "d" : std::to_string(h) + "h";
}

}  // namespace

void load_reminders(ConfigView& root, Config& c, Diagnostics& diags) {
    std::set<std::string> names;
    auto children = root.children("reminders");
    for (std::size_t i = 0; i < children.size(); ++i) {
        ConfigView& rv = children[i];
        ReminderRule rule;
        rule.line = rv.line();
        if (auto name = rv.string("name", true)) {
            if (!valid_rule_name(*name))
                rv.error("name",
                         "a reminder's name uses only a-z, 0-9 and '_' (at most 40): it names "
                         "its template, templates/reminders/<name>.yaml");
            else if (!names.insert(*name).second)
                rv.error("name", "reminder '" + *name + "' is defined twice");
            rule.name = *name;
        }
        if (auto st = rv.string("status", true)) {
            if (auto canonical = c.canonical_status(*st))
                rule.status = *canonical;
            else
                rv.error("status", "unknown status '" + *st +
                                       "' (neither canonical nor in statuses.aliases)");
        }
        bool before_given = false;
        if (auto days = rv.integer("before_appointment", 1, 30)) {
            rule.before_appointment = static_cast<int>(*days);
            before_given = true;
        }
        bool after_given = false;
        if (auto d = rv.duration("after")) {
            after_given = true;
            if (d->count() <= 0)
                rv.error("after", "must be greater than zero");
            else if (*d >= c.queue.dedupe_ttl)
                rv.error("after", "must be shorter than queue.dedupe_ttl (" +
                                      hours(c.queue.dedupe_ttl) +
                                      "): the queue keeps a scheduled reminder that long");
            else
                rule.after = *d;
        }
        if (before_given == after_given)
            rv.error("after",
                     "a reminder is due either 'before_appointment' (days) or 'after' (a "
                     "duration), one of the two");
        if (auto at = rv.string("at")) {
            if (auto m = parse_hhmm(*at))
                rule.at_minute = *m;
            else
                rv.error("at", "expected a local time as HH:MM (00:00 to 23:59)");
        } else if (before_given) {
            rv.error("before_appointment",
                     "needs 'at', the local time (HH:MM) the reminder is sent on that day");
        }
        if (auto n = rv.integer("repeat", 1, 10)) {
            rule.repeat = static_cast<int>(*n);
            if (rule.repeat > 1 && !after_given)
                rv.error("repeat", "a repeated reminder needs 'after', the time between two");
        }
        bool channels_given = rv.has("channels");
        if (channels_given) rule.channels = read_channels(rv, "channels", true);
        if (auto list = rv.string_list("cancel_on")) {
            for (const auto& s : *list) {
                auto canonical = c.canonical_status(s);
                if (!canonical)
                    rv.error("cancel_on", "unknown status '" + s +
                                              "' (neither canonical nor in statuses.aliases)");
                else if (*canonical == rule.status)
                    rv.error("cancel_on", "'" + s + "' is the status that schedules the reminder");
                else
                    rule.cancel_on.push_back(*canonical);
            }
        }
        rv.finish();
        if (!channels_given && !rule.status.empty()) {
            for (auto& r : c.routes)
                if (std::find(r.statuses.begin(), r.statuses.end(), rule.status) !=
                    r.statuses.end()) {
                    rule.channels = r.channels;
                }
            if (rule.channels.empty())
                rv.error("channels", "status '" + rule.status +
                                         "' has no route: give the reminder its channels");
        }
        const std::string path = "reminders[" + std::to_string(i) + "].channels";
        for (Channel ch : rule.channels) {
            bool served = std::any_of(c.providers.begin(), c.providers.end(), [&](auto& p) {
                return p.settings.enabled && p.settings.channel == ch;
            });
            if (!served)
                diags.add(
                    root.file(), rule.line, path,
                    "no enabled provider serves channel '" + std::string(to_string(ch)) + "'");
        }
        c.reminders.push_back(std::move(rule));
    }
}

}  // namespace config_parts
}  // namespace tinbao
