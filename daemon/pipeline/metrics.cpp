#include "daemon/pipeline/metrics.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace tinbao {

Metrics::Metrics() {
    // The HTTP API's counts of posted events.
    declare("tinbao_events_accepted_total", Type::counter, "Events accepted over HTTP.");
    declare("tinbao_events_duplicate_total", Type::counter,
            "Events posted again (not queued twice).");
    declare("tinbao_events_unavailable_total", Type::counter,
            "Events refused because the queue was down.");
    declare("tinbao_callbacks_total", Type::counter,
            "Provider call-backs received and accepted by the provider's check.");
    declare("tinbao_callbacks_rejected_total", Type::counter,
            "Provider call-backs refused (forged, malformed): answered 4xx.");
    declare("tinbao_inbound_messages_total", Type::counter,
            "Messages citizens sent to the service (replies), by the provider that brought them.");
    declare("tinbao_feedback_total", Type::counter,
            "Citizens' ratings by provider and outcome (stored, repeat, unknown_message, "
            "unavailable).");

    // Call-backs to API clients (docs/callbacks.md).
    declare("tinbao_client_callbacks_total", Type::counter,
            "Call-back attempts to API clients, by client and outcome (delivered, retry, dead, "
            "gone: the endpoint answered 410 and is disabled).");

    // The pipeline's.
    declare("tinbao_events_processed_total", Type::counter, "Events whose messages were recorded.");
    declare("tinbao_events_invalid_total", Type::counter, "Stream entries moved aside as invalid.");
    declare("tinbao_messages_sent_total", Type::counter, "Messages accepted by a provider.");
    declare("tinbao_messages_failed_total", Type::counter, "Messages that failed or expired.");
    declare("tinbao_messages_expired_total", Type::counter, "Messages past give_up_after.");
    declare("tinbao_quiet_hours_deferred_total", Type::counter,
            "Messages held for the end of quiet hours.");
    declare("tinbao_dead_letters_replayed_total", Type::counter, "Dead letters replayed.");
    declare("tinbao_messages_total", Type::counter,
            "Messages by channel, provider, outcome (sent, failed, expired, superseded, "
            "skipped) and reason.");
    declare("tinbao_provider_requests_total", Type::counter,
            "Provider requests by provider and result (ok, retryable, permanent).");
    declare("tinbao_retries_total", Type::counter,
            "Attempts scheduled again after a retryable failure, by provider and reason.");
    declare("tinbao_reminders_total", Type::counter,
            "Reminders by rule and outcome: scheduled, or cancelled (by a later status of the "
            "dossier or by the operator). Their messages count in tinbao_messages_total.");
    declare("tinbao_fallbacks_total", Type::counter,
            "Messages superseded by the next channel, by channel (from, to).");
    declare("tinbao_messages_deferred_total", Type::counter,
            "Messages held back: quiet hours, dossier order, every circuit open.");
    declare("tinbao_sms_segments_total", Type::counter,
            "SMS segments sent, by encoding (the cost).");
    declare("tinbao_agency_messages_total", Type::counter,
            "Messages by agency (a configured code or other), channel and outcome.");
    declare("tinbao_agency_cost_dong_total", Type::counter,
            "What the messages providers accepted cost by the price table, in dong, by agency "
            "and channel.");
    declare("tinbao_agency_sms_segments_total", Type::counter,
            "SMS segments providers accepted, by agency.");
    declare("tinbao_budget_refused_total", Type::counter,
            "SMS not sent because their agency's monthly budget is spent, by agency.");
    declare("tinbao_budget_warnings_total", Type::counter,
            "Times an agency's spend of the month passed 80 % of its budget, by agency.");
    declare("tinbao_provider_request_seconds", Type::histogram, "Provider request latency.",
            {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10});
    declare("tinbao_end_to_end_seconds", Type::histogram,
            "From the event's acceptance to the provider's answer, for sent messages.",
            {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300,
             3600});

    // Read at scrape time.
    declare("tinbao_pipeline_active", Type::gauge, "Events and jobs being processed.");
    declare("tinbao_budget_used_ratio", Type::gauge,
            "The part of its monthly budget an agency has spent (1 = all), as this instance last "
            "read it; the larger of the dong and segments budgets.");
    declare("tinbao_queue_up", Type::gauge, "Whether the queue backend is reachable.");
    declare("tinbao_redis_master_changes_total", Type::counter,
            "Times the sentinels named another Redis master (a failover).");
    declare("tinbao_instances", Type::gauge, "tinbaod instances sharing the queue.");
    declare("tinbao_stream_backlog", Type::gauge, "Entries in the input stream.");
    declare("tinbao_stream_entries_held_back_total", Type::counter,
            "Stream entries read before queue.redis.min_replicas replicas had them: held back, "
            "not processed, and read again later.");
    declare("tinbao_scheduled_messages", Type::gauge, "Messages waiting for a later attempt.");
    declare("tinbao_dead_letters", Type::gauge, "Messages failed or expired, kept for replay.");
    declare("tinbao_provider_in_flight", Type::gauge, "Requests in flight per provider.");
    declare("tinbao_client_callbacks_in_flight", Type::gauge,
            "Call-backs in flight per API client.");
    declare("tinbao_client_callback_circuit_open", Type::gauge,
            "1 while an API client's call-back circuit is open or its endpoint is disabled "
            "(410).");
    declare("tinbao_provider_problem", Type::gauge,
            "1 while a provider reports a problem (e.g. its token refresh fails).");
    declare("tinbao_provider_circuit_open", Type::gauge,
            "1 while the provider's circuit is open (or half open).");
    declare("tinbao_circuit_transitions_total", Type::counter,
            "Changes of a provider's circuit, by provider and the state entered (open, "
            "half_open, closed).");
    declare("tinbao_oldest_due_seconds", Type::gauge,
            "Age of the oldest scheduled message that is due and not yet taken (0: none).");

    // What providers report (Provider::gauges()), as tinbao_provider_<name>{provider}.
    declare("tinbao_provider_token_expiry_timestamp_seconds", Type::gauge,
            "When the provider's access token in use expires (Unix seconds).");
    declare("tinbao_provider_quota_daily", Type::gauge,
            "The provider account's daily quota, as the provider last reported it.");
    declare("tinbao_provider_quota_remaining", Type::gauge,
            "What is left of the daily quota, as the provider last reported it.");
    declare("tinbao_provider_binds", Type::gauge,
            "Sessions bound to the provider (SMPP binds), out of its configured binds.");
    declare("tinbao_provider_receivers", Type::gauge,
            "Receiver sessions bound to the provider (SMPP `bind: pair`), out of its binds.");

    // The daemon's own.
    declare("tinbao_build_info", Type::gauge,
            "Always 1: the version and the commit tinbaod was built from, as labels.");
    declare("tinbao_config_last_reload_successful", Type::gauge,
            "1 when the last reload (SIGHUP) was applied or none was made, 0 when it was "
            "refused.");
    declare("tinbao_config_last_reload_timestamp_seconds", Type::gauge,
            "When the configuration was last loaded, or a reload refused (Unix seconds).");
    declare("tinbao_config_reloads_total", Type::counter,
            "Reloads (SIGHUP) by result (ok, refused).");
    declare("process_cpu_seconds_total", Type::counter, "User and system CPU time spent.");
    declare("process_resident_memory_bytes", Type::gauge, "Resident memory size.");
    declare("process_open_fds", Type::gauge, "Open file descriptors.");
    declare("process_max_fds", Type::gauge, "The open file descriptors limit (soft).");
    declare("process_start_time_seconds", Type::gauge, "When the process started (Unix seconds).");
}

void Metrics::declare(std::string_view name, Type type, std::string_view help,
                      std::vector<double> buckets) {
    auto& f = families_[std::string(name)];
    f.type = type;
    f.help = help;
    std::sort(buckets.begin(), buckets.end());
    f.buckets = std::move(buckets);
}

std::string Metrics::label_text(const Labels& labels) {
    if (labels.empty()) return {};
    std::string out = "{";
    bool first = true;
    for (auto& [k, v] : labels) {
        if (!first) out += ",";
        first = false;
        out += k;
        out += "=\"";
        for (char c : v) {
            if (c == '\\' || c == '"') out += '\\';
            if (c == '\n') {
                out += "\\n";
                continue;
            }
            out += c;
        }
        out += "\"";
    }
    return out + "}";
}

void Metrics::inc(std::string_view name, const Labels& labels, double n) {
    auto it = families_.find(name);
    if (it == families_.end() || it->second.type == Type::histogram) return;
    it->second.series[label_text(labels)].value += n;
}

void Metrics::observe(std::string_view name, const Labels& labels, double value) {
    auto it = families_.find(name);
    if (it == families_.end() || it->second.type != Type::histogram) return;
    auto& f = it->second;
    auto& s = f.series[label_text(labels)];
    if (s.counts.empty()) s.counts.assign(f.buckets.size(), 0);
    for (size_t i = 0; i < f.buckets.size(); ++i)
        if (value <= f.buckets[i]) {
            ++s.counts[i];
            break;
        }
    ++s.count;
    s.sum += value;
}

void Metrics::render_histogram(std::string& out, const std::string& name, const Family& f,
                               const std::string& labels, const Series& s) {
    // Cumulative buckets, then +Inf, sum and count.
    std::string inner = labels.empty() ? "" : labels.substr(1, labels.size() - 2) + ",";
    uint64_t cumulative = 0;
    for (size_t i = 0; i < f.buckets.size(); ++i) {
        cumulative += s.counts.empty() ? 0 : s.counts[i];
        out += fmt::format("{}_bucket{{{}le=\"{}\"}} {}\n", name, inner, f.buckets[i], cumulative);
    }
    out += fmt::format("{}_bucket{{{}le=\"+Inf\"}} {}\n", name, inner, s.count);
    out += fmt::format("{}_sum{} {}\n{}_count{} {}\n", name, labels, s.sum, name, labels, s.count);
}

std::string Metrics::render(const std::vector<Sample>& collected) const {
    std::map<std::string_view, std::vector<const Sample*>> by_family;
    for (auto& s : collected) by_family[s.name].push_back(&s);

    std::string out;
    for (auto& [name, f] : families_) {
        const char* type = f.type == Type::counter ? "counter"
                           : f.type == Type::gauge ? "gauge"
                                                   : "histogram";
        out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, f.help, name, type);
        for (auto& [labels, s] : f.series) {
            if (f.type == Type::histogram)
                render_histogram(out, name, f, labels, s);
            else
                out += fmt::format("{}{} {}\n", name, labels, s.value);
        }
        if (f.type == Type::histogram) continue;  // histograms are only observed
        auto it = by_family.find(name);
        if (it == by_family.end()) continue;
        std::map<std::string, double> extra;  // one sample per label set, in a stable order
        for (auto* s : it->second) {
            auto labels = label_text(s->labels);
            if (!f.series.count(labels)) extra[labels] = s->value;
        }
        for (auto& [labels, value] : extra) out += fmt::format("{}{} {}\n", name, labels, value);
    }
    return out;
}

}  // namespace tinbao
