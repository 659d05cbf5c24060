// The provider interface: what every delivery adapter (eSMS, Zalo ZNS, SMTP, outbox, ...) is.
//
// Contract for adapters (the pipeline relies on every rule):
//  - MUST NOT block the event loop: no synchronous network or disk waits longer than a write
//    to a local file; HTTP goes through the shared HttpClient.
//  - MUST classify every failure: SendResult::fail with FailureClass::retryable or ::permanent
//    and a reason from the shared vocabulary (reasons.hpp). Unknown provider answers are
//    retryable with reason "provider_error" unless the provider documents them as permanent.
//  - MUST NOT retry by itself: the pipeline owns retries, failover and backoff.
//  - MUST finish within its deadline (settings().timeout): a request that times out is
//    retryable with reason "timeout".
//  - MUST NOT log secrets (tokens, keys, passwords) or full phone numbers / emails
//    (common/redact.hpp masks them).
//  - SHOULD pass OutboundMessage::id to the provider as its client-side id (eSMS RequestId,
//    Zalo tracking_id) so a resend after a crash is deduplicated on the provider side.
//
// Threading: a Provider lives on the daemon's io_context; send() is called and completes there.
// Ownership: the daemon owns one Provider per configured provider; a ProviderFactory creates it.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "providers/config_view.hpp"

namespace tinbao {

class HttpClient;
class MailClient;
class StateStore;

enum class Channel { sms, zalo, email };
std::string_view to_string(Channel c);
std::optional<Channel> channel_from_string(std::string_view s);

enum class FailureClass { retryable, permanent };

// A template-based provider's own form of one message (VNPT: a TEMPLATEID and its numbered
// PARAMS): planned from the event when the message is planned, and saved with the message's job,
// so a later attempt (a retry, after a restart, the next provider) sends what was planned without
// the event. Values are rendered, made one line and under the SMS policy already.
struct ProviderParams {
    std::string template_id;
    std::vector<std::string> values;  // in order
    bool unicode = false;             // sms: they go as UCS-2 (the policy over the whole text)
    std::string text;    // the text they produce in the registered wording; empty when unknown
    std::string reason;  // set: this provider cannot send the message (template_not_registered)
    std::string detail;
};

// One registered template of a template-based provider, as its configuration gives it: for a
// status, the provider's template id and one tinbao template per parameter, in order, each with
// where it stands (the daemon compiles them at load and reports errors there).
struct ParamTemplate {
    struct Source {
        std::string text;  // a tinbao template, e.g. "{{ dossier.code }}"
        int line = 0;      // 1-based
        int column = 0;    // 1-based
    };
    std::string status;
    std::string file;
    int line = 0;  // the status key's line
    std::string template_id;
    std::vector<Source> params;
    // The wording registered with the provider, `{1}`, `{2}`... standing for the parameters;
    // empty when not configured (the text they produce is then unknown).
    std::string wording;
};

// One message as a provider sends it. Everything is rendered, normalised and checked already.
struct OutboundMessage {
    std::string id;            // tinbao's message id: the provider's client id (RequestId, ...)
    std::string event_id;
    std::string dossier_code;
    Channel channel = Channel::sms;
    std::string to;            // sms/zalo: 84xxxxxxxxx; email: address; zalo may use a user id
    std::string text;          // sms: the text as sent; email: text part
    bool unicode = false;      // sms: true when `text` goes as UCS-2
    int segments = 0;          // sms: number of parts
    std::string subject;       // email
    std::string html;          // email, optional
    std::string template_id;   // zalo
    std::vector<std::pair<std::string, std::string>> params;  // zalo template_data, in order
    // Template-based providers: the form planned for the provider the message goes to.
    ProviderParams provider_params;
    // sms: the sender (brandname, label) to send under instead of the provider's configured
    // one, for the agency the message is sent for (config `agencies[].sms_sender`); empty: the
    // provider's own. Each SMS adapter documents which of its keys this replaces.
    std::string sender;
};

struct SendResult {
    bool ok = false;
    std::string provider_message_id;        // when ok (may be empty)
    FailureClass failure = FailureClass::retryable;
    std::string reason;                     // when !ok: shared vocabulary, e.g. "throttled"
    std::string detail;                     // the provider's own status text; no secrets
    std::optional<std::chrono::seconds> retry_after;  // the provider asked to wait this long
    // When the provider reschedules to a fixed time (Zalo -133: 06:00 local; -144: tomorrow),
    // the earliest moment to try again, as Unix milliseconds.
    std::optional<int64_t> not_before_ms;
    // The provider's raw answer (body, truncated to a few KiB), for `tinbaoctl send-test` and
    // debugging. Never contains tinbao's own secrets.
    std::string raw_response;

    static SendResult success(std::string provider_message_id, std::string detail = {}) {
        SendResult r;
        r.ok = true;
        r.provider_message_id = std::move(provider_message_id);
        r.detail = std::move(detail);
        return r;
    }
    static SendResult fail(FailureClass cls, std::string reason, std::string detail) {
        SendResult r;
        r.failure = cls;
        r.reason = std::move(reason);
        r.detail = std::move(detail);
        return r;
    }
};

// Keys every provider has; read by the config loader, not by the factories.
struct ProviderSettings {
    std::string name;
    std::string type;
    Channel channel = Channel::sms;
    double rate_per_second = 0;   // 0: unlimited
    int max_in_flight = 0;        // 0: unlimited
    std::chrono::milliseconds timeout{10000};
    bool enabled = true;
    // SMS providers: the wording registered for the brandname with the carriers, `{{ ... }}`
    // marking variable parts; a rendered SMS must match one (empty list: no check).
    std::vector<std::string> registered_templates;
    // SMS providers: characters the gateway rejects (several VN gateways: "&#") and what
    // replaces each of them.
    std::string forbidden_characters;
    std::string forbidden_replacement = " ";
};

// A provider's call-back (delivery report, webhook) as received on /v1/callbacks/{name}.
struct CallbackRequest {
    std::string method;
    std::vector<std::pair<std::string, std::string>> query;   // decoded
    std::vector<std::pair<std::string, std::string>> headers; // names lower-cased
    std::string body;                                          // raw
};

// A message a citizen sent to the service (a reply to a brandname SMS, an SMPP deliver_sm that
// is not a receipt, a SpeedSMS `incoming` webhook), as an adapter received it.
//
// A provider that was not told the message was taken sends it again: the daemon recognises the
// second arrival by the provider's own id (`provider_message_id`), else by `dedupe_key`, and
// makes one call-back of the two.
struct InboundMessage {
    std::string provider;  // the provider's configured name
    Channel channel = Channel::sms;
    std::string from;                 // the sender: 84xxxxxxxxx when it is a VN mobile number
    std::string to;                   // the number or brandname it was sent to, when known
    std::string text;                 // UTF-8
    int64_t received_ms = 0;          // when the provider received it (or tinbao, if unknown)
    std::string provider_message_id;  // the provider's id of it, when given
    // When the provider gives no id: what the provider sends again unchanged (a hash of the
    // sender, recipient, raw text, the provider's timestamp if any), the same on every arrival
    // of the message; empty: no recognition. Kept in the queue only (it is made of the full
    // number), never sent to a client.
    std::string dedupe_key;
    // How long an arrival with the same `dedupe_key` counts as sent again (two equal messages
    // further apart are two). Zero: the queue's dedupe_ttl. An id is kept for dedupe_ttl.
    std::chrono::milliseconds dedupe_window{0};
};

// A change of a message's state that a call-back reports.
struct DeliveryUpdate {
    std::string message_id;           // tinbao's id (eSMS RequestId, Zalo tracking_id)
    std::string provider_message_id;  // the provider's id, when given
    std::string state;                // "delivered" or "failed"
    std::string reason;               // for failed
    std::string detail;
    std::string dedupe_key;           // the provider's own event id (Zalo msg_id), if any
};

// A citizen's rating of the service, answering a message sent with a rating template (Zalo ZNS
// template type 5), as a call-back reported it. Nothing about the citizen beyond what they chose
// and wrote: no phone number, no user id.
struct RatingReport {
    std::string message_id;           // tinbao's id of the rated message (Zalo tracking_id)
    std::string provider_message_id;  // the provider's id of it (Zalo msg_id)
    // The provider's id of this answer, unique per answer: a report seen twice (a call-back
    // retried) has the same one. Zalo: msg_id and submit time.
    std::string answer_id;
    int rating = 0;                     // 1 to 5 stars
    std::vector<std::string> comments;  // the comments the citizen ticked (UTF-8)
    std::string note;                   // what the citizen wrote (UTF-8)
    int64_t submitted_ms = 0;           // when the citizen sent it (Unix ms)
};

struct CallbackResult {
    int status = 200;                       // what to answer the provider
    std::string content_type = "application/json";
    std::string body = "{}";
    std::vector<DeliveryUpdate> updates;    // applied by the daemon after answering
    // Recorded by the daemon before it answers: when they cannot be (the queue is down) the
    // provider is answered 503 instead of `status`, so that it sends the call-back again.
    std::vector<RatingReport> ratings;
    // Updates the adapter can only complete after I/O (a report that names the provider's id,
    // looked up in the state store): the daemon runs this after answering and applies what it
    // returns, as `updates`. Empty: nothing to look up.
    std::function<boost::asio::awaitable<std::vector<DeliveryUpdate>>()> resolve;
    // Citizens' messages the call-back brought (SpeedSMS `incoming`): the daemon takes them in
    // charge (as ProviderSink::inbound) before it answers; when one cannot be (the queue is
    // down) it answers 503 instead of `status`, so that the provider sends the call-back again.
    std::vector<InboundMessage> inbound;
};

// What an adapter reports on its own initiative, outside a call-back: a connection-oriented
// protocol (SMPP's deliver_sm) brings delivery reports and citizens' replies on its own session.
// The daemon implements it; null in `--check` runs and tools that send only (`tinbaoctl
// send-test`). Threading: called and completed on the provider's executor.
class ProviderSink {
  public:
    virtual ~ProviderSink() = default;
    // Applies the updates exactly as a call-back's (moves only `sent` messages, never
    // backwards, each dedupe_key once). Completes true once they are recorded (a message that
    // is unknown, or already further, counts as recorded); false when they could not be (the
    // queue is down): the adapter then has the provider send the report again later.
    virtual boost::asio::awaitable<bool> delivery_updates(std::string provider,
                                                          std::vector<DeliveryUpdate> updates) = 0;
    // A citizen's message. Completes true once it is taken in charge; false when it could not
    // be (the adapter then has the provider send it again later, when its protocol allows).
    virtual boost::asio::awaitable<bool> inbound(InboundMessage message) = 0;
};

// What a factory may use to build a provider. Nothing here does I/O when the factory runs.
struct ProviderContext {
    boost::asio::any_io_executor executor;
    HttpClient* http = nullptr;   // null in `--check` runs: factories must not use it in create()
    MailClient* mail = nullptr;   // SMTP transport (the same CurlMulti); null in `--check` runs
    std::string state_dir;
    StateStore* state = nullptr;  // durable small state (tokens); null in `--check` runs
    std::string public_base_url;  // how providers reach /v1/callbacks (http.public_base_url)
    ProviderSink* sink = nullptr;  // reports on the adapter's own initiative; may be null
};

class Provider {
public:
    explicit Provider(ProviderSettings settings) : settings_(std::move(settings)) {}
    virtual ~Provider() = default;
    Provider(const Provider&) = delete;
    Provider& operator=(const Provider&) = delete;

    const ProviderSettings& settings() const { return settings_; }
    const std::string& name() const { return settings_.name; }
    Channel channel() const { return settings_.channel; }

    // Connection-oriented adapters (SMPP binds): the daemon calls start() once the provider is
    // in service (at startup, and for the providers a reload built, after it is applied), and
    // awaits stop() when it leaves service (shutdown, or a reload replaced it), after the sends
    // in progress ended or the grace ran out; stop() completes within `grace` (SMPP: unbind).
    // send() may be called before start() completes (it waits for a session within its
    // timeout) and after stop() (it fails retryable). Neither throws. Default: nothing to do.
    virtual void start() {}
    virtual boost::asio::awaitable<void> stop(std::chrono::milliseconds grace) {
        (void)grace;
        co_return;
    }
    // A reload: called on the new provider before start(), with the running provider of the
    // same name and type it replaces. A connection-oriented adapter whose connection settings
    // are unchanged takes over that provider's connections (SMPP: the binds stay up, the SMSC
    // sees no new bind); the previous provider's stop() then leaves them alone. Default: nothing
    // is taken over (the new provider connects on its own).
    virtual void take_over(Provider& previous) { (void)previous; }

    // Sends one message. Completes on the provider's executor; never throws.
    virtual boost::asio::awaitable<SendResult> send(const OutboundMessage& msg) = 0;

    // A call-back addressed to this provider. MUST answer quickly (no I/O), MUST verify the
    // sender (signature, shared secret) and answer 401/403 without updates when it fails.
    // nullopt: this adapter takes no call-backs (the API answers 404).
    virtual std::optional<CallbackResult> handle_callback(const CallbackRequest& request) {
        (void)request;
        return std::nullopt;
    }

    // Template-based providers (VNPT): the registered template of each status. The planner
    // renders their parameters from the event when it plans a message, for each such provider of
    // the channel, and the message's job keeps them; a status without one is not sent through
    // this provider (template_not_registered: the next provider takes over). Empty (every other
    // adapter): the provider sends the channel's rendered text.
    virtual std::vector<ParamTemplate> param_templates() const { return {}; }

    // Values for /metrics, read at scrape time (no I/O): each becomes the gauge
    // tinbao_provider_<name>{provider="..."}. The names the daemon exposes are in
    // docs/operating.md: token_expiry_timestamp_seconds (when the access token in use expires,
    // Unix seconds), quota_daily and quota_remaining (the account's quota as the provider last
    // reported it). Others are dropped. Empty: nothing to report (yet).
    struct Gauge {
        std::string name;
        double value = 0;
    };
    virtual std::vector<Gauge> gauges() const { return {}; }

    // Health for /readyz and metrics (e.g. Zalo token refresh failing). Empty: healthy.
    virtual std::string problem() const { return {}; }

    // SMS: the text as this provider's gateway will carry it, when the adapter itself rewrites
    // it (Viettel's API refuses '&', which becomes "va"). The pipeline applies it before the
    // provider's forbidden_characters, the registered_templates check and the segment count,
    // sends the result, records it as the body, and the preview shows it. Pure, no I/O, any
    // thread. Default: the text unchanged.
    virtual std::string sms_text(std::string_view text) const { return std::string(text); }

  private:
    ProviderSettings settings_;
};

// One factory per adapter type, looked up by the config's `type`.
class ProviderFactory {
public:
    virtual ~ProviderFactory() = default;
    virtual std::string_view type() const = 0;
    // Channels this adapter can serve.
    virtual bool supports(Channel c) const = 0;
    // Reads the adapter's own keys from `cfg` (the common keys are already consumed), reports
    // every problem through `cfg`, and returns nullptr when there was any. No I/O.
    virtual std::unique_ptr<Provider> create(const ProviderSettings& settings, ConfigView& cfg,
                                             const ProviderContext& ctx) const = 0;
};

// A plain registry object (no singleton): the daemon fills it with register_builtin_providers(),
// tests with whatever they need.
class ProviderRegistry {
public:
    void add(std::unique_ptr<ProviderFactory> factory);
    const ProviderFactory* find(std::string_view type) const;
    std::vector<std::string_view> types() const;

private:
    std::vector<std::unique_ptr<ProviderFactory>> factories_;
};

// The adapters shipped with tinbao: generated from the one list TINBAO_BUILTIN_ADAPTERS in
// providers/CMakeLists.txt; nothing registers itself.
void register_builtin_providers(ProviderRegistry& registry);

}  // namespace tinbao
