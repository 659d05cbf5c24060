// libFuzzer target for the SMTP message encoder: subject, names, text and HTML come from outside
// events and templates. Whatever they hold, the message keeps its shape: CRLF line ends only,
// no line over 998 characters, no header added by a value, no line that is a lone ".".
#include "providers/smtp/mime.hpp"

#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace {

using namespace tinbao;

void check(bool ok) {
    if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
    FuzzedDataProvider in(data, size);
    mime::Message m;
    if (auto from = mime::parse_mailbox(in.ConsumeRandomLengthString(120))) {
        check(mime::valid_address(from->address));
        m.from = *from;
    } else {
        m.from = mime::Mailbox{in.ConsumeRandomLengthString(60), "noreply@example.vn"};
    }
    m.to = in.ConsumeRandomLengthString(60);
    if (!mime::valid_address(m.to)) m.to = "a@example.vn";
    if (in.ConsumeBool()) m.reply_to = mime::parse_mailbox(in.ConsumeRandomLengthString(120));
    m.subject = in.ConsumeRandomLengthString(400);
    m.message_id = mime::make_message_id(in.ConsumeRandomLengthString(60), m.from.address);
    m.html = in.ConsumeBool() ? in.ConsumeRandomLengthString(2000) : "";
    m.text = in.ConsumeRemainingBytesAsString();

    const std::string msg = mime::build_message(m);
    std::size_t start = 0;
    bool in_headers = true;
    int subjects = 0;
    while (start < msg.size()) {
        std::size_t end = msg.find("\r\n", start);
        check(end != std::string::npos);  // the message ends with CRLF
        const std::string_view line(msg.data() + start, end - start);
        check(line.size() <= 998);
        check(line.find('\r') == std::string_view::npos &&
              line.find('\n') == std::string_view::npos);
        if (in_headers) {
            if (line.empty()) {
                in_headers = false;
            } else if (line[0] != ' ' && line[0] != '\t') {
                check(line.find(':') != std::string_view::npos);
                if (line.starts_with("Subject:")) ++subjects;
                check(!line.starts_with("Bcc:"));
            }
        } else {
            check(line != ".");
        }
        start = end + 2;
    }
    check(subjects == 1);
    return 0;
}
