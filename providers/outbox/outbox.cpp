#include "providers/outbox/outbox.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <string>
#include <system_error>
#include <utility>

#include "common/private_files.hpp"
#include "common/time.hpp"
#include "providers/adapter_kit.hpp"
#include "providers/reasons.hpp"

namespace tinbao {

namespace json = boost::json;

namespace {

std::string errno_text(int err) { return std::generic_category().message(err); }

class OutboxProvider final : public Provider {
  public:
    OutboxProvider(ProviderSettings settings, std::filesystem::path path)
        : Provider(std::move(settings)), path_(std::move(path)) {}

    boost::asio::awaitable<SendResult> send(const OutboundMessage& msg) override {
        co_return write(msg);
    }

  private:
    SendResult write(const OutboundMessage& msg) {
        if (!dirs_ready_ && path_.has_parent_path()) {
            std::error_code ec = create_private_directories(path_.parent_path());
            if (ec)
                return unavailable("cannot create " + path_.parent_path().string() + ": " +
                                   ec.message());
        }
        dirs_ready_ = true;

        json::object line;
        line["id"] = msg.id;
        line["event_id"] = msg.event_id;
        line["dossier_code"] = msg.dossier_code;
        line["channel"] = to_string(msg.channel);
        line["to"] = msg.to;
        line["text"] = msg.text;
        line["unicode"] = msg.unicode;
        line["segments"] = msg.segments;
        line["subject"] = msg.subject;
        line["html"] = msg.html;
        line["template_id"] = msg.template_id;
        if (!msg.sender.empty()) line["sender"] = msg.sender;
        json::object params;
        for (const auto& [k, v] : msg.params) params[k] = v;
        line["params"] = std::move(params);
        line["at"] = rfc3339_utc(std::chrono::system_clock::now());
        std::string text = json::serialize(line);
        text.push_back('\n');

        int fd = open_private(path_, O_WRONLY | O_APPEND);  // messages hold personal data
        if (fd < 0) return unavailable("cannot open " + path_.string() + ": " + errno_text(errno));
        std::size_t done = 0;
        while (done < text.size()) {
            ssize_t n = ::write(fd, text.data() + done, text.size() - done);
            if (n < 0) {
                if (errno == EINTR) continue;
                int err = errno;
                ::close(fd);
                return unavailable("cannot write " + path_.string() + ": " + errno_text(err));
            }
            done += static_cast<std::size_t>(n);
        }
        if (::close(fd) != 0)
            return unavailable("cannot write " + path_.string() + ": " + errno_text(errno));
        return SendResult::success("outbox-" + msg.id, "written to " + path_.string());
    }

    static SendResult unavailable(std::string detail) {
        return SendResult::fail(FailureClass::retryable, std::string(reason::kProviderUnavailable),
                                std::move(detail));
    }

    std::filesystem::path path_;
    bool dirs_ready_ = false;
};

class OutboxFactory final : public adapter::FactoryKit<std::filesystem::path> {
  public:
    OutboxFactory() : FactoryKit("outbox", {}) {}

  protected:
    std::filesystem::path read(const ProviderSettings&, ConfigView& cfg,
                               const ProviderContext& ctx) const override {
        std::filesystem::path path = std::filesystem::path(ctx.state_dir) / "outbox.jsonl";
        if (auto v = cfg.string("path")) {
            if (v->empty())
                cfg.error("path", "must not be empty");
            else
                path = *v;
        }
        return path;
    }

    std::unique_ptr<Provider> build(const ProviderSettings& settings, std::filesystem::path path,
                                    const ProviderContext&) const override {
        return std::make_unique<OutboxProvider>(settings, std::move(path));
    }
};

}  // namespace

std::unique_ptr<ProviderFactory> make_outbox_factory() { return std::make_unique<OutboxFactory>(); }

}  // namespace tinbao
