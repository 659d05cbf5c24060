#include "providers/smpp/smpp.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "common/redact.hpp"
#include "providers/adapter_kit.hpp"
#include "providers/adapter_util.hpp"
#include "providers/reasons.hpp"
#include "providers/smpp/client.hpp"
#include "providers/smpp/inbound.hpp"
#include "providers/smpp/receipt.hpp"
#include "providers/smpp/status.hpp"
#include "providers/smpp/text.hpp"
#include "providers/state_store.hpp"

namespace tinbao {

namespace asio = boost::asio;
using adapter::permanent;
using adapter::retryable;
using Clock = std::chrono::steady_clock;

namespace smpp {

std::vector<Pdu> submits_for(const OutboundMessage& msg, const SubmitSettings& settings,
                             uint8_t reference, std::string& error) {
    const bool ucs2 = msg.unicode;
    const std::string encoded = ucs2 ? to_ucs2(msg.text) : to_gsm(msg.text);
    Pdu base;
    base.command_id = cmd::kSubmitSm;
    base.source = {settings.source_ton, settings.source_npi, settings.source_addr};
    base.destination = {1, 1, msg.to};  // international, ISDN (E.164): 84...
    base.registered_delivery = 1;       // an SMSC delivery receipt, success or failure
    base.data_coding = ucs2 ? kCodingUcs2 : kCodingDefault;
    auto parts = split_parts(encoded, ucs2);
    if (parts.size() == 1) {
        base.short_message = encoded;
        return {base};
    }
    if (settings.payload) {
        if (encoded.size() > 0xFFFF) {
            error = "the text is over the 64 KiB of a message_payload";
            return {};
        }
        base.add(tag::kMessagePayload, encoded);
        return {base};
    }
    if (parts.size() > 255) {
        error = "the text needs " + std::to_string(parts.size()) +
                " parts; a concatenated SMS has at most 255";
        return {};
    }
    std::vector<Pdu> out;
    const auto total = static_cast<uint8_t>(parts.size());
    for (std::size_t i = 0; i < parts.size(); ++i) {
        Pdu p = base;
        p.esm_class = 0x40;  // UDHI: the short_message starts with a UDH
        p.short_message = concat_udh(reference, total, static_cast<uint8_t>(i + 1)) + parts[i];
        out.push_back(std::move(p));
    }
    return out;
}

}  // namespace smpp

namespace {

using namespace smpp;

// How long a submit_sm_resp message_id is kept for its receipt (an SMSC's validity period is
// at most a few days).
constexpr std::chrono::hours kReportWindow{24 * 7};
constexpr std::size_t kTraceMax = 4096;

struct SmppConfig {
    ClientOptions client;
    SubmitSettings submit;
    std::chrono::milliseconds inbound_window{std::chrono::hours(1)};  // inbound_dedupe_window
};

// The way from a receipt back to the message, and the citizens' messages: shared with the
// client's handler, so it outlives the provider while a deliver_sm is being answered.
class Receipts {
  public:
    Receipts(asio::any_io_executor ex, std::string name, StateStore* state, ProviderSink* sink,
             std::chrono::milliseconds inbound_window)
        : ex_(std::move(ex)),
          name_(std::move(name)),
          state_(state),
          sink_(sink),
          inbound_window_(inbound_window) {}

    std::chrono::milliseconds inbound_window() const { return inbound_window_; }
    void set_inbound_window(std::chrono::milliseconds w) { inbound_window_ = w; }

    std::string id_key(std::string_view id) const {
        return "smpp:" + name_ + ":id:" + std::string(id);
    }
    std::string part_key(const std::string& message, std::size_t part) const {
        return "smpp:" + name_ + ":part:" + message + ":" + std::to_string(part);
    }
    std::string progress_key(const std::string& message) const {
        return "smpp:" + name_ + ":sending:" + message;
    }

    // A message in parts while it is being sent: its UDH reference and each part's message_id
    // once the SMSC accepted it, so that a retry sends only the other parts, as the same parts.
    struct Progress {
        uint8_t reference = 0;
        uint64_t fingerprint = 0;      // of the text and its coding: a retry of the same parts
        std::vector<std::string> ids;  // one per part; empty: not accepted yet
    };

    // "<reference> <fingerprint> <total>" then one line per part; nullopt when there is none
    // (or it is not readable: the message is then sent whole, as before).
    asio::awaitable<std::optional<Progress>> progress(std::string message) {
        if (!state_) co_return std::nullopt;
        StoreRead got = co_await state_->get(progress_key(message));
        if (!got.ok || !got.value) co_return std::nullopt;
        Progress p;
        unsigned ref = 0;
        unsigned long long fp = 0;
        std::size_t total = 0;
        int used = 0;
        if (std::sscanf(got.value->c_str(), "%u %llx %zu%n", &ref, &fp, &total, &used) != 3 ||
            ref > 255 || total < 2 || total > 255)
            co_return std::nullopt;
        p.reference = static_cast<uint8_t>(ref);
        p.fingerprint = fp;
        std::string_view rest = std::string_view(*got.value).substr(static_cast<std::size_t>(used));
        for (std::size_t i = 0; i < total; ++i) {
            if (rest.empty() || rest[0] != '\n') co_return std::nullopt;
            rest.remove_prefix(1);
            std::size_t end = std::min(rest.find('\n'), rest.size());
            p.ids.emplace_back(rest.substr(0, end));
            rest.remove_prefix(end);
        }
        co_return p;
    }

    asio::awaitable<bool> keep_progress(std::string message, const Progress& p) {
        if (!state_) co_return true;
        char head[64];
        std::snprintf(head, sizeof head, "%u %llx %zu", static_cast<unsigned>(p.reference),
                      static_cast<unsigned long long>(p.fingerprint), p.ids.size());
        std::string value = head;
        for (auto& id : p.ids) value += "\n" + id;
        bool kept =
            co_await state_->put_for(progress_key(message), std::move(value), kReportWindow);
        co_return kept;
    }

    // Every part accepted: a later send of the message (a replay) starts over.
    asio::awaitable<void> end_progress(std::string message) {
        if (!state_) co_return;
        co_await state_->put_for(progress_key(message), "sent", kReportWindow);
    }

    // After a part's submit_sm_resp: its id, to find the message from its receipt.
    asio::awaitable<void> remember(std::string smsc_id, std::string message_id, std::size_t part,
                                   std::size_t total) {
        if (!state_ || smsc_id.empty()) co_return;
        std::string value = std::to_string(part) + "/" + std::to_string(total) + " " + message_id;
        bool kept = co_await state_->put_for(id_key(smsc_id), std::move(value), kReportWindow);
        if (!kept)
            spdlog::warn(
                "smpp {}: message {}: the state store did not keep message_id {}; its receipt "
                "will not be matched",
                name_, message_id, smsc_id);
    }

    // A deliver_sm or data_sm: the command_status to answer it with.
    asio::awaitable<uint32_t> on_pdu(Pdu p) {
        // Without the daemon (a tool), nothing can be recorded: the SMSC keeps it for later.
        if (!sink_ || !state_) co_return status::kTemporaryAppError;
        if (!is_receipt(p)) {
            uint32_t st = co_await inbound(std::move(p));
            co_return st;
        }
        auto r = parse_receipt(p);
        if (!r) {
            spdlog::warn("smpp {}: a receipt without a message id: acknowledged and ignored",
                         name_);
            co_return status::kOk;
        }
        if (r->outcome == ReceiptOutcome::pending) co_return status::kOk;
        uint32_t st = co_await apply(*r);
        co_return st;
    }

  private:
    asio::awaitable<uint32_t> inbound(Pdu p) {
        const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
        InboundMessage m = inbound_message(p, name_, now, inbound_window_);
        std::size_t octets = p.short_message.size();
        if (octets == 0)
            if (auto* payload = p.find(tag::kMessagePayload)) octets = payload->value.size();
        // Not a receipt: a citizen wrote back. The number stays out of this line.
        spdlog::info("smpp {}: a message from a citizen (not a receipt): {} octets, data_coding {}",
                     name_, octets, p.data_coding);
        bool taken = co_await sink_->inbound(std::move(m));
        co_return taken ? status::kOk : status::kTemporaryAppError;
    }

    // The forms an id may take in a receipt: SMSCs that answer submit_sm_resp in hexadecimal
    // and write receipts in decimal, or the other way round.
    static std::vector<std::string> id_forms(const std::string& id) {
        std::vector<std::string> out{id};
        bool digits = !id.empty() && id.size() <= 19, hex = !id.empty() && id.size() <= 16;
        for (char c : id) {
            digits = digits && std::isdigit(static_cast<unsigned char>(c));
            hex = hex && std::isxdigit(static_cast<unsigned char>(c));
        }
        char buf[32];
        if (digits) {
            unsigned long long v = std::stoull(id);
            std::snprintf(buf, sizeof buf, "%llx", v);
            out.emplace_back(buf);
            std::snprintf(buf, sizeof buf, "%llX", v);
            out.emplace_back(buf);
        } else if (hex) {
            std::snprintf(buf, sizeof buf, "%llu", std::stoull(id, nullptr, 16));
            out.emplace_back(buf);
        }
        return out;
    }

    asio::awaitable<uint32_t> apply(Receipt r) {
        // The id is stored right after its submit_sm_resp; a fast SMSC's receipt may come
        // first: looked for again for a few seconds.
        std::optional<std::string> found;
        auto forms = id_forms(r.id);
        auto wait = std::chrono::milliseconds(250);
        for (int attempt = 0; attempt < 6 && !found; ++attempt) {
            if (attempt > 0) {
                asio::steady_timer t(ex_, wait);
                co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
                wait *= 2;
            }
            for (auto& f : forms) {
                StoreRead got = co_await state_->get(id_key(f));
                if (!got.ok) co_return status::kTemporaryAppError;  // asked again later
                if (got.value) {
                    found = std::move(got.value);
                    break;
                }
            }
        }
        if (!found) {
            spdlog::warn(
                "smpp {}: a receipt for message_id {} matches no message (older than 7 days, "
                "or not sent by tinbao)",
                name_, adapter::clean(r.id, 80));
            co_return status::kOk;
        }
        // "part/total message"
        std::size_t slash = found->find('/'), space = found->find(' ');
        if (slash == std::string::npos || space == std::string::npos || space < slash)
            co_return status::kOk;
        std::size_t part = std::strtoul(found->c_str(), nullptr, 10);
        std::size_t total = std::strtoul(found->c_str() + slash + 1, nullptr, 10);
        std::string message = found->substr(space + 1);

        DeliveryUpdate u;
        u.message_id = message;
        u.provider_message_id = adapter::clean(r.id, 80);
        std::string detail = "stat:" + adapter::clean(r.stat, 16);
        if (!r.error.empty()) detail += " err:" + adapter::clean(r.error, 16);
        ReceiptOutcome outcome = r.outcome;
        if (total > 1) {
            // Each part's outcome kept apart: delivered when all are, failed when one is.
            std::string mine = outcome == ReceiptOutcome::delivered ? "d" : "f " + detail;
            bool kept = co_await state_->put_for(part_key(message, part), mine, kReportWindow);
            if (!kept) co_return status::kTemporaryAppError;
            std::size_t delivered = 0;
            std::string failed;
            for (std::size_t i = 1; i <= total && failed.empty(); ++i) {
                StoreRead got = co_await state_->get(part_key(message, i));
                if (!got.ok) co_return status::kTemporaryAppError;
                if (!got.value) continue;
                if (*got.value == "d")
                    ++delivered;
                else
                    failed = "part " + std::to_string(i) + "/" + std::to_string(total) + ": " +
                             got.value->substr(std::min<std::size_t>(2, got.value->size()));
            }
            if (!failed.empty()) {
                outcome = ReceiptOutcome::failed;
                detail = failed;
            } else if (delivered == total) {
                outcome = ReceiptOutcome::delivered;
                detail = "all " + std::to_string(total) + " parts delivered";
            } else {
                co_return status::kOk;  // waiting for the other parts
            }
        }
        u.state = outcome == ReceiptOutcome::delivered ? "delivered" : "failed";
        if (outcome == ReceiptOutcome::failed) u.reason = std::string(reason::kProviderError);
        u.detail = detail;
        std::vector<DeliveryUpdate> updates{std::move(u)};
        bool recorded = co_await sink_->delivery_updates(name_, std::move(updates));
        co_return recorded ? status::kOk : status::kTemporaryAppError;
    }

    asio::any_io_executor ex_;
    std::string name_;
    StateStore* state_;
    ProviderSink* sink_;
    std::chrono::milliseconds inbound_window_;
};

// FNV-1a of the text and its coding: the parts of a retry are those of the first attempt.
uint64_t fingerprint(const OutboundMessage& msg) {
    uint64_t h = 14695981039346656037ull;
    auto mix = [&h](unsigned char c) { h = (h ^ c) * 1099511628211ull; };
    for (char c : msg.text) mix(static_cast<unsigned char>(c));
    mix(msg.unicode ? 1 : 0);
    return h;
}

SendResult failure(const SubmitOutcome& o) {
    switch (o.kind) {
        case SubmitOutcome::Kind::accepted:
            break;
        case SubmitOutcome::Kind::account:
            return permanent(reason::kAuthFailed, o.detail);
        case SubmitOutcome::Kind::unavailable:
            return retryable(reason::kProviderUnavailable, o.detail);
        case SubmitOutcome::Kind::timeout:
            return retryable(reason::kTimeout, o.detail);
        case SubmitOutcome::Kind::refused: {
            auto info = classify_status(o.status);
            SendResult r = SendResult::fail(info.failure, std::string(info.reason), o.detail);
            if (is_throttle(o.status)) r.retry_after = std::chrono::seconds(1);
            return r;
        }
    }
    return retryable(reason::kProviderError, o.detail);
}

class SmppProvider final : public Provider {
  public:
    SmppProvider(const ProviderSettings& settings, SmppConfig c, const ProviderContext& ctx)
        : Provider(settings),
          submit_(std::move(c.submit)),
          receipts_(std::make_shared<Receipts>(ctx.executor, settings.name, ctx.state, ctx.sink,
                                               c.inbound_window)),
          reference_(static_cast<uint8_t>(std::random_device{}())),
          pair_(c.client.pair),
          options_(c.client) {
        auto receipts = receipts_;
        // The handler holds the receipts; the client holds the handler while it answers.
        client_ = Client::create(ctx.executor, std::move(c.client),
                                 [receipts](Pdu p) { return receipts->on_pdu(std::move(p)); });
    }
    ~SmppProvider() override {
        if (!handed_over_) client_->close_now();
    }

    void start() override { client_->start(); }

    asio::awaitable<void> stop(std::chrono::milliseconds grace) override {
        if (handed_over_) co_return;  // the provider that replaced this one has the sessions
        co_await client_->stop(grace);
    }

    // A reload that left the sessions' settings as they were keeps their binds: the SMSC sees
    // no unbind and no new bind. Any change to them (host, account, binds, window, TLS, ...)
    // binds anew; the submit_sm settings (source_addr, long_messages) need no new bind.
    void take_over(Provider& previous) override {
        auto* prev = dynamic_cast<SmppProvider*>(&previous);
        if (!prev || prev->handed_over_) return;
        if (!(prev->options_ == options_)) {
            spdlog::info("smpp {}: reloaded with other session settings: binding anew", name());
            return;
        }
        client_->close_now();  // never started
        client_ = prev->client_;
        // The kept sessions answer through the previous provider's handler: it takes this
        // provider's inbound_dedupe_window.
        prev->receipts_->set_inbound_window(receipts_->inbound_window());
        prev->handed_over_ = true;
        spdlog::info("smpp {}: reloaded with the same session settings: the binds stay up", name());
    }

    asio::awaitable<SendResult> send(const OutboundMessage& msg) override {
        auto client = client_;  // the provider may be replaced while this runs
        auto receipts = receipts_;
        const auto deadline = Clock::now() + settings().timeout;
        std::string error;
        const uint8_t reference = reference_++;
        auto pdus = submits_for(msg, submit_, reference, error);
        if (pdus.empty()) co_return permanent(reason::kTooLong, error);
        const std::size_t total = pdus.size();
        // In parts: the parts an earlier attempt got accepted are not sent again; the others go
        // with that attempt's reference, so that the phone puts them together.
        Receipts::Progress progress{reference, fingerprint(msg), {}};
        progress.ids.resize(total);
        bool resumed = false;
        if (total > 1) {
            auto earlier = co_await receipts->progress(msg.id);
            if (earlier && earlier->ids.size() == total &&
                earlier->fingerprint == progress.fingerprint) {
                progress = std::move(*earlier);
                pdus = submits_for(msg, submit_, progress.reference, error);
                resumed = true;
            }
        }
        std::string trace = client->bind_answer();
        std::string ids;
        std::size_t accepted = 0;
        for (std::size_t i = 0; i < total; ++i) {
            std::string part =
                total > 1 ? "part " + std::to_string(i + 1) + "/" + std::to_string(total) + ": "
                          : std::string();
            if (!progress.ids[i].empty()) {
                trace += (trace.empty() ? "" : "\n") + part + "accepted before, message_id " +
                         progress.ids[i] + ": not sent again";
                ids += (ids.empty() ? "" : ",") + progress.ids[i];
                ++accepted;
                continue;
            }
            SubmitOutcome o = co_await client->submit(std::move(pdus[i]), deadline);
            trace += (trace.empty() ? "" : "\n") + part + o.trace;
            if (o.kind != SubmitOutcome::Kind::accepted) {
                SendResult r = failure(o);
                if (!part.empty()) r.detail = part + r.detail;
                if (accepted > 0)
                    r.detail += " (" + std::to_string(accepted) + " of " + std::to_string(total) +
                                " parts were accepted; a retry sends only the others)";
                r.detail = adapter::clean(r.detail, 300);
                r.raw_response = trace.substr(0, kTraceMax);
                co_return r;
            }
            co_await receipts->remember(o.message_id, msg.id, i + 1, total);
            ids += (ids.empty() ? "" : ",") + o.message_id;
            ++accepted;
            if (total > 1) {
                progress.ids[i] = o.message_id;
                bool kept = co_await receipts->keep_progress(msg.id, progress);
                if (!kept)
                    spdlog::warn(
                        "smpp {}: message {}: the state store did not keep part {}/{}'s "
                        "acceptance; a retry would send it again",
                        name(), msg.id, i + 1, total);
            }
        }
        if (total > 1) {
            co_await receipts->end_progress(msg.id);
            if (resumed)
                spdlog::info(
                    "smpp {}: message {}: the parts an earlier attempt got accepted were "
                    "not sent again",
                    name(), msg.id);
        }
        SendResult ok =
            SendResult::success(ids, total > 1 ? std::to_string(total) + " parts" : std::string());
        ok.raw_response = trace.substr(0, kTraceMax);
        co_return ok;
    }

    std::string problem() const override { return client_->problem(); }

    std::vector<Gauge> gauges() const override {
        std::vector<Gauge> out{{"binds", static_cast<double>(client_->bound())}};
        if (pair_) out.push_back({"receivers", static_cast<double>(client_->receivers_bound())});
        return out;
    }

  private:
    SubmitSettings submit_;
    std::shared_ptr<Receipts> receipts_;
    std::shared_ptr<Client> client_;
    uint8_t reference_;
    bool pair_;
    ClientOptions options_;     // what the sessions were made with
    bool handed_over_ = false;  // a reload's provider took the sessions over
};

// A value's length within SMPP's field limit (NUL excluded), else an error on `key`.
void check_length(ConfigView& cfg, std::string_view key, const std::string& v, std::size_t max) {
    if (v.size() > max)
        cfg.error(key, "at most " + std::to_string(max) + " characters (SMPP 3.4 section 4.1)");
}

class SmppFactory final : public adapter::FactoryKit<SmppConfig> {
  public:
    SmppFactory() : FactoryKit("smpp", {Channel::sms}) {}

  protected:
    SmppConfig read(const ProviderSettings& settings, ConfigView& cfg,
                    const ProviderContext&) const override {
        SmppConfig c;
        auto& o = c.client;
        o.name = settings.name;
        o.timeout = settings.timeout;
        o.rate_per_second = settings.rate_per_second;
        if (auto v = cfg.string("host", true)) {
            o.host = *v;
            if (o.host.empty()) cfg.error("host", "must not be empty");
        }
        if (auto v = cfg.integer("port", 1, 65535)) o.port = static_cast<uint16_t>(*v);
        if (auto v = cfg.string("system_id", true)) {
            o.system_id = *v;
            check_length(cfg, "system_id", o.system_id, limit::kSystemId - 1);
        }
        if (auto v = cfg.string("password")) {
            o.password = *v;
            check_length(cfg, "password", o.password, limit::kPassword - 1);
        }
        if (auto v = cfg.string("system_type")) {
            o.system_type = *v;
            check_length(cfg, "system_type", o.system_type, limit::kSystemType - 1);
        }
        if (auto v = cfg.integer("source_ton", 0, 6))
            c.submit.source_ton = static_cast<uint8_t>(*v);
        if (auto v = cfg.integer("source_npi", 0, 18))
            c.submit.source_npi = static_cast<uint8_t>(*v);
        if (auto v = cfg.string("source_addr", true)) {
            c.submit.source_addr = *v;
            if (c.submit.source_addr.empty()) cfg.error("source_addr", "must not be empty");
            check_length(cfg, "source_addr", c.submit.source_addr, limit::kAddress - 1);
            if (c.submit.source_ton == 5 && c.submit.source_addr.size() > 11)
                cfg.error("source_addr",
                          "an alphanumeric sender (source_ton 5) has at most 11 characters "
                          "(3GPP TS 23.040 section 9.1.2.5)");
        }
        if (auto v = cfg.integer("binds", 1, 64)) o.binds = static_cast<int>(*v);
        if (auto v = cfg.string("bind")) {
            if (*v == "pair")
                o.pair = true;
            else if (*v != "transceiver")
                cfg.error("bind", "transceiver or pair, not '" + *v + "'");
        }
        if (auto v = cfg.duration("enquire_link")) {
            if (*v < std::chrono::seconds(1) || *v > std::chrono::hours(1))
                cfg.error("enquire_link", "between 1s and 1h");
            else
                o.enquire_link = *v;
        }
        if (auto v = cfg.string("long_messages")) {
            if (*v == "payload")
                c.submit.payload = true;
            else if (*v != "udh")
                cfg.error("long_messages", "udh or payload, not '" + *v + "'");
        }
        if (auto v = cfg.boolean("tls")) o.tls = *v;
        if (auto v = cfg.string("tls_ca_file")) {
            o.tls_ca_file = *v;
            if (!o.tls) cfg.error("tls_ca_file", "only with tls: true");
        }
        if (auto v = cfg.duration("inbound_dedupe_window")) {
            if (*v > std::chrono::hours(24 * 7))
                cfg.error("inbound_dedupe_window", "at most 7d");
            else
                c.inbound_window = *v;
        }
        // The window of each bind: max_in_flight over the binds (10 when unlimited).
        o.window = settings.max_in_flight > 0 ? std::max(1, settings.max_in_flight / o.binds) : 10;
        return c;
    }

    std::unique_ptr<Provider> build(const ProviderSettings& settings, SmppConfig c,
                                    const ProviderContext& ctx) const override {
        return std::make_unique<SmppProvider>(settings, std::move(c), ctx);
    }
};

}  // namespace

std::unique_ptr<ProviderFactory> make_smpp_factory() { return std::make_unique<SmppFactory>(); }

}  // namespace tinbao
