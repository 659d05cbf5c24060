#include "providers/smtp/smtp.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cctype>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "providers/adapter_kit.hpp"
#include "providers/adapter_util.hpp"
#include "providers/reasons.hpp"
#include "providers/smtp/mime.hpp"

namespace tinbao {

namespace {

using adapter::clean;
using adapter::permanent;
using adapter::retryable;

struct SmtpConfig {
    std::string url;
    std::string username;
    std::string password;
    mime::Mailbox from;
    std::optional<mime::Mailbox> reply_to;
    bool tls_verify = true;
    bool require_tls = false;
};

// The host of an smtp:// or smtps:// URL: "[::1]" as "::1", without user info or port.
std::string url_host(std::string_view url) {
    std::string_view rest = url.substr(url.find("://") + 3);
    rest = rest.substr(0, rest.find_first_of("/?#"));
    if (auto at = rest.rfind('@'); at != std::string_view::npos) rest.remove_prefix(at + 1);
    if (rest.starts_with('[')) return std::string(rest.substr(1, rest.find(']') - 1));
    return std::string(rest.substr(0, rest.find(':')));
}

// A server on this machine: its traffic never crosses a network a stripped STARTTLS could be
// forced on, so plain SMTP is allowed by default there and nowhere else.
bool loopback_host(const std::string& host) {
    std::string h;
    for (char c : host) h.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    if (h == "localhost" || h.ends_with(".localhost")) return true;  // RFC 6761 section 6.3
    in_addr v4{};
    if (::inet_pton(AF_INET, h.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
    in6_addr v6{};
    return ::inet_pton(AF_INET6, h.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

SendResult classify_reply(int code, const std::string& detail) {
    if (code >= 500) {
        switch (code) {
            case 550:  // mailbox unavailable
            case 551:  // user not local
            case 553:  // mailbox name not allowed
                return permanent(reason::kNoContact, detail);
            case 552:  // message too big for the mailbox / storage
            case 554:  // transaction failed (often: content refused as spam)
                return permanent(reason::kRejectedContent, detail);
            case 530:  // authentication required
            case 534:
            case 535:  // credentials refused
            case 538:
                return permanent(reason::kAuthFailed, detail);
            default:
                return permanent(reason::kProviderError, detail);
        }
    }
    if (code == 421) return retryable(reason::kProviderUnavailable, detail);
    if (code == 450 || code == 451) return retryable(reason::kThrottled, detail);  // greylisting
    if (code == 452) return retryable(reason::kQuotaExceeded, detail);
    return retryable(reason::kProviderError, detail);
}

class SmtpProvider final : public Provider {
  public:
    SmtpProvider(ProviderSettings settings, SmtpConfig config, MailClient* mail)
        : Provider(std::move(settings)), config_(std::move(config)), mail_(mail) {}

    boost::asio::awaitable<SendResult> send(const OutboundMessage& msg) override {
        if (msg.channel != Channel::email)
            co_return permanent(reason::kConfigError, "smtp sends email only");
        if (!mime::valid_address(msg.to))
            co_return permanent(reason::kNoContact, "not a usable email address");
        if (!mail_) co_return retryable(reason::kProviderUnavailable, "no mail client");

        mime::Message m;
        m.from = config_.from;
        m.to = msg.to;
        m.reply_to = config_.reply_to;
        m.subject = msg.subject;
        m.text = msg.text;
        m.html = msg.html;
        // The same id on every attempt: a receiving system that saw an earlier attempt
        // recognises the resend.
        m.message_id = mime::make_message_id(msg.id, config_.from.address);
        m.date = std::chrono::system_clock::now();

        MailRequest request;
        request.url = config_.url;
        request.username = config_.username;
        request.password = config_.password;
        request.mail_from = config_.from.address;
        request.recipients = {msg.to};
        request.message = mime::build_message(m);
        request.verify_tls = config_.tls_verify;
        request.require_tls = config_.require_tls;
        request.timeout = settings().timeout;
        MailResult result = co_await mail_->send_mail(std::move(request));
        SendResult r = classify_smtp_result(result);
        if (r.ok) r.provider_message_id = m.message_id;
        co_return r;
    }

  private:
    SmtpConfig config_;
    MailClient* mail_;
};

class SmtpFactory final : public adapter::FactoryKit<SmtpConfig> {
  public:
    SmtpFactory() : FactoryKit("smtp", {Channel::email}) {}

  protected:
    SmtpConfig read(const ProviderSettings&, ConfigView& cfg,
                    const ProviderContext&) const override {
        SmtpConfig c;
        if (auto v = cfg.string("url", true)) {
            c.url = *v;
            bool smtp = c.url.starts_with("smtp://") && c.url.size() > 7;
            bool smtps = c.url.starts_with("smtps://") && c.url.size() > 8;
            if (!smtp && !smtps) cfg.error("url", "must be smtp://host:port or smtps://host:port");
        }
        auto user = cfg.string("username");
        auto pass = cfg.string("password");
        if (user.has_value() != pass.has_value())
            cfg.error(user ? "password" : "username", "username and password go together");
        if (user) c.username = *user;
        if (pass) c.password = *pass;
        if (auto v = cfg.string("from", true)) {
            if (auto mb = mime::parse_mailbox(*v))
                c.from = std::move(*mb);
            else
                cfg.error("from", "must be an address or \"Name <address>\"");
        }
        if (auto v = cfg.string("reply_to")) {
            if (auto mb = mime::parse_mailbox(*v))
                c.reply_to = std::move(*mb);
            else
                cfg.error("reply_to", "must be an address or \"Name <address>\"");
        }
        if (auto v = cfg.boolean("tls_verify")) c.tls_verify = *v;
        if (auto v = cfg.boolean("require_tls")) {
            c.require_tls = *v;
            if (c.require_tls && c.url.starts_with("smtps://"))
                cfg.error("require_tls", "smtps:// is always TLS; require_tls is for smtp://");
        } else {
            // Opportunistic STARTTLS sends the password in clear to anyone who strips the
            // server's STARTTLS offer (RFC 3207 section 6); only loopback is exempt by default.
            c.require_tls = c.url.starts_with("smtp://") && !loopback_host(url_host(c.url));
        }
        return c;
    }

    std::unique_ptr<Provider> build(const ProviderSettings& settings, SmtpConfig c,
                                    const ProviderContext& ctx) const override {
        return std::make_unique<SmtpProvider>(settings, std::move(c), ctx.mail);
    }
};

}  // namespace

SendResult classify_smtp_result(const MailResult& result) {
    using E = MailResult::Error;
    std::string text = clean(result.error_text);
    std::string detail = result.reply_code > 0 ? "SMTP " + std::to_string(result.reply_code) : "";
    if (!text.empty()) detail += (detail.empty() ? "" : ": ") + text;
    SendResult r;
    switch (result.error) {
        case E::none:
            r = SendResult::success({}, detail.empty() ? "accepted" : detail);
            break;
        case E::timeout:
            r = retryable(reason::kTimeout, detail);
            break;
        case E::connect:
        case E::tls:
            r = retryable(reason::kProviderUnavailable, detail);
            break;
        case E::login:
            r = permanent(reason::kAuthFailed, detail);
            break;
        case E::rejected:
            r = classify_reply(result.reply_code, detail);
            break;
        case E::other:
            r = retryable(reason::kProviderError, detail);
            break;
    }
    r.raw_response = detail;
    return r;
}

std::unique_ptr<ProviderFactory> make_smtp_factory() { return std::make_unique<SmtpFactory>(); }

}  // namespace tinbao
