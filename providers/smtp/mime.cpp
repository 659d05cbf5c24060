#include "providers/smtp/mime.hpp"

#include <array>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <functional>
#include <vector>

#include "common/encoding.hpp"

namespace tinbao::mime {

namespace {

constexpr std::size_t kMaxEncodedLine = 76;  // RFC 2047 §2: lines holding encoded-words
constexpr std::size_t kWordOverhead = 12;    // "=?UTF-8?B?" + "?="

// Control characters (CR and LF above all) would end the header line: they become spaces.
std::string without_controls(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        out.push_back(u < 0x20 || u == 0x7f ? ' ' : c);
    }
    return out;
}

bool printable_ascii(std::string_view s) {
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u > 0x7e) return false;
    }
    return true;
}

// Length of the UTF-8 sequence that starts with `lead` (1 for stray bytes, so nothing loops).
std::size_t utf8_length(unsigned char lead) {
    if (lead >= 0xf0 && lead < 0xf8) return 4;
    if (lead >= 0xe0) return lead < 0xf0 ? 3 : 1;
    if (lead >= 0xc0) return 2;
    return 1;
}

// The largest whole-character prefix of `s` no longer than `max_bytes` (at least one character).
std::size_t utf8_cut(std::string_view s, std::size_t max_bytes) {
    std::size_t pos = 0;
    while (pos < s.size()) {
        std::size_t n = std::min(utf8_length(static_cast<unsigned char>(s[pos])), s.size() - pos);
        if (pos + n > max_bytes && pos > 0) break;
        pos += n;
    }
    return pos;
}

// Raw bytes that fit one encoded-word of at most `word_len` characters.
std::size_t bytes_for_word(std::size_t word_len) {
    if (word_len <= kWordOverhead + 4) return 0;
    return (word_len - kWordOverhead) / 4 * 3;
}

std::string encoded_words(std::string_view value, std::size_t prefix_len) {
    std::string out;
    std::size_t first = prefix_len + kWordOverhead + 4 * 4 <= kMaxEncodedLine
                            ? bytes_for_word(kMaxEncodedLine - prefix_len)
                            : 0;
    bool first_word = true;
    while (!value.empty()) {
        std::size_t budget = first_word && first > 0 ? first : bytes_for_word(kMaxEncodedLine - 1);
        if (!first_word) out += "\r\n ";
        std::size_t n = utf8_cut(value, budget);
        out += "=?UTF-8?B?" + base64_encode(value.substr(0, n)) + "?=";
        value.remove_prefix(n);
        first_word = false;
    }
    return out;
}

bool is_atext(char c) {
    auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u)) return true;
    return std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

char hex_digit(unsigned v) { return "0123456789ABCDEF"[v & 15]; }

}  // namespace

bool valid_address(std::string_view a) {
    auto at = a.rfind('@');
    if (at == std::string_view::npos || at == 0 || at + 1 >= a.size()) return false;
    if (a.size() > 254) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char c = a[i];
        auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u >= 0x7f) return false;
        if (std::string_view("<>()[],;:\\\"").find(c) != std::string_view::npos) return false;
        if (c == '@' && i != at) return false;
    }
    std::string_view domain = a.substr(at + 1);
    if (domain.front() == '.' || domain.back() == '.' ||
        domain.find("..") != std::string_view::npos)
        return false;
    return true;
}

std::optional<Mailbox> parse_mailbox(std::string_view text) {
    text = trim(text);
    Mailbox m;
    auto lt = text.rfind('<');
    if (lt == std::string_view::npos) {
        if (!valid_address(text)) return std::nullopt;
        m.address = std::string(text);
        return m;
    }
    if (text.back() != '>') return std::nullopt;
    std::string_view addr = text.substr(lt + 1, text.size() - lt - 2);
    if (!valid_address(addr)) return std::nullopt;
    std::string_view name = trim(text.substr(0, lt));
    if (name.size() >= 2 && name.front() == '"' && name.back() == '"') {
        std::string unquoted;
        for (std::size_t i = 1; i + 1 < name.size(); ++i) {
            if (name[i] == '\\' && i + 2 < name.size()) ++i;
            unquoted.push_back(name[i]);
        }
        m.display_name = std::move(unquoted);
    } else {
        m.display_name = std::string(name);
    }
    for (char c : m.display_name) {
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) return std::nullopt;
    }
    m.address = std::string(addr);
    return m;
}

std::string encode_header_text(std::string_view value, std::size_t prefix_len) {
    std::string clean = without_controls(value);
    if (printable_ascii(clean) && clean.find("=?") == std::string::npos &&
        prefix_len + clean.size() <= 78)
        return clean;
    return encoded_words(clean, prefix_len);
}

std::string format_mailbox(const Mailbox& mailbox, std::size_t prefix_len) {
    std::string name = without_controls(trim(mailbox.display_name));
    if (name.empty()) return mailbox.address;
    if (printable_ascii(name) && name.find("=?") == std::string::npos &&
        prefix_len + name.size() + mailbox.address.size() + 5 <= 78) {
        bool plain = true;
        for (char c : name)
            if (!is_atext(c) && c != ' ') plain = false;
        if (plain) return name + " <" + mailbox.address + ">";
        std::string quoted = "\"";
        for (char c : name) {
            if (c == '"' || c == '\\') quoted += '\\';
            quoted += c;
        }
        return quoted + "\" <" + mailbox.address + ">";
    }
    std::string words = encoded_words(name, prefix_len);
    std::size_t last_line = words.rfind("\r\n");
    std::size_t used =
        last_line == std::string::npos ? prefix_len + words.size() : words.size() - last_line - 2;
    // The address goes on its own folded line when it would push the last line past 76.
    const char* sep = used + 3 + mailbox.address.size() > kMaxEncodedLine ? "\r\n <" : " <";
    return words + sep + mailbox.address + ">";
}

std::string quoted_printable(std::string_view text) {
    std::string out;
    std::size_t start = 0;
    bool more = true;
    while (more) {
        std::size_t nl = text.find('\n', start);
        std::string_view line =
            text.substr(start, nl == std::string_view::npos ? text.npos : nl - start);
        more = nl != std::string_view::npos;
        start = more ? nl + 1 : text.size();
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        // A text without a final newline still ends its last line with CRLF; a final newline
        // does not add an empty line.
        if (!more && line.empty() && !out.empty()) break;

        std::size_t col = 0;
        for (std::size_t i = 0; i < line.size(); ++i) {
            auto u = static_cast<unsigned char>(line[i]);
            bool last = i + 1 == line.size();
            bool literal = (u >= 33 && u <= 126 && u != '=') || ((u == ' ' || u == '\t') && !last);
            if (u == '.' && col == 0) literal = false;
            std::string token;
            if (literal) {
                token.push_back(static_cast<char>(u));
            } else {
                token = {'=', hex_digit(u >> 4), hex_digit(u)};
            }
            // Leave room for the soft break '=' so an encoded line is at most 76 characters.
            if (col + token.size() > kMaxEncodedLine - 1) {
                out += "=\r\n";
                col = 0;
                if (u == '.') token = "=2E";
            }
            out += token;
            col += token.size();
        }
        out += "\r\n";
    }
    return out;
}

std::string rfc5322_date(std::chrono::system_clock::time_point when, int offset_minutes) {
    static constexpr std::array<const char*, 7> kDays = {"Sun", "Mon", "Tue", "Wed",
                                                         "Thu", "Fri", "Sat"};
    static constexpr std::array<const char*, 12> kMonths = {
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    std::time_t t = std::chrono::system_clock::to_time_t(when) + offset_minutes * 60;
    std::tm tm{};
    gmtime_r(&t, &tm);
    int off = offset_minutes < 0 ? -offset_minutes : offset_minutes;
    char buf[64];
    std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d %c%02d%02d", kDays[tm.tm_wday],
                  tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                  tm.tm_sec, offset_minutes < 0 ? '-' : '+', off / 60, off % 60);
    return buf;
}

std::string make_message_id(std::string_view id, std::string_view from_address) {
    std::string left;
    for (char c : id) {
        auto u = static_cast<unsigned char>(c);
        bool keep = std::isalnum(u) || c == '-' || c == '_' || c == '.';
        if (c == '.' && (left.empty() || left.back() == '.')) keep = false;
        left.push_back(keep ? c : '_');
    }
    while (!left.empty() && left.back() == '.') left.pop_back();
    if (left.empty()) left = "tinbao";
    auto at = from_address.rfind('@');
    std::string domain =
        at == std::string_view::npos ? "localhost" : std::string(from_address.substr(at + 1));
    return left + "@" + domain;
}

std::string build_message(const Message& m) {
    std::string out;
    auto header = [&out](std::string_view name, const std::string& value) {
        out.append(name).append(": ").append(value).append("\r\n");
    };
    header("Date", rfc5322_date(m.date, m.utc_offset_minutes));
    header("From", format_mailbox(m.from, 6));
    header("To", m.to);
    if (m.reply_to) header("Reply-To", format_mailbox(*m.reply_to, 10));
    header("Subject", encode_header_text(m.subject, 9));
    header("Message-ID", "<" + m.message_id + ">");
    header("MIME-Version", "1.0");
    // A notification: auto-responders must not answer it (RFC 3834).
    header("Auto-Submitted", "auto-generated");

    const char* text_type = "text/plain; charset=UTF-8";
    if (m.html.empty()) {
        header("Content-Type", text_type);
        header("Content-Transfer-Encoding", "quoted-printable");
        out += "\r\n";
        out += quoted_printable(m.text);
        return out;
    }
    // '=' followed by '_' never occurs in quoted-printable output, so the boundary cannot
    // appear inside a part.
    char hash[17];
    std::snprintf(hash, sizeof hash, "%016zx", std::hash<std::string>{}(m.message_id));
    std::string boundary = std::string("=_tinbao_") + hash;
    header("Content-Type", "multipart/alternative; boundary=\"" + boundary + "\"");
    out += "\r\n";
    out += "This is a MIME message in two forms: plain text and HTML.\r\n";
    out += "--" + boundary + "\r\n";
    out += "Content-Type: " + std::string(text_type) + "\r\n";
    out += "Content-Transfer-Encoding: quoted-printable\r\n\r\n";
    // The CRLF before a boundary belongs to the boundary (RFC 2046 §5.1.1): one more keeps the
    // part's own final line break.
    out += quoted_printable(m.text);
    out += "\r\n--" + boundary + "\r\n";
    out += "Content-Type: text/html; charset=UTF-8\r\n";
    out += "Content-Transfer-Encoding: quoted-printable\r\n\r\n";
    out += quoted_printable(m.html);
    out += "\r\n--" + boundary + "--\r\n";
    return out;
}

}  // namespace tinbao::mime
