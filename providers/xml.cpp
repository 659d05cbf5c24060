#include "providers/xml.hpp"

#include <charconv>
#include <cstdint>

namespace tinbao::xml {

void append_escaped(std::string& out, std::string_view s) {
    for (char c : s) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&apos;";
                break;
            case '\r':
                out += "&#13;";
                break;
            case '\t':
            case '\n':
                out += c;
                break;
            default:
                if (static_cast<unsigned char>(c) < 0x20)
                    out += ' ';
                else
                    out += c;
        }
    }
}

std::string escaped(std::string_view s) {
    std::string out;
    out.reserve(s.size() + s.size() / 8);
    append_escaped(out, s);
    return out;
}

namespace {

void append_utf8(std::string& out, uint32_t cp) {
    if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

// Character data with its references decoded; an unknown or broken reference stays as it is.
void append_decoded(std::string& out, std::string_view text) {
    while (!text.empty()) {
        auto amp = text.find('&');
        out.append(text.substr(0, amp));
        if (amp == std::string_view::npos) return;
        text.remove_prefix(amp);
        auto semi = text.find(';');
        if (semi == std::string_view::npos || semi > 12) {
            out += '&';
            text.remove_prefix(1);
            continue;
        }
        std::string_view name = text.substr(1, semi - 1);
        bool known = true;
        if (name == "lt") {
            out += '<';
        } else if (name == "gt") {
            out += '>';
        } else if (name == "amp") {
            out += '&';
        } else if (name == "quot") {
            out += '"';
        } else if (name == "apos") {
            out += '\'';
        } else if (name.size() >= 2 && name[0] == '#') {
            const bool hex = name[1] == 'x' || name[1] == 'X';
            std::string_view digits = name.substr(hex ? 2 : 1);
            uint32_t cp = 0;
            auto [p, ec] =
                std::from_chars(digits.data(), digits.data() + digits.size(), cp, hex ? 16 : 10);
            known = !digits.empty() && ec == std::errc() && p == digits.data() + digits.size();
            if (known) append_utf8(out, cp);
        } else {
            known = false;
        }
        if (!known) {
            out += '&';
            text.remove_prefix(1);
            continue;
        }
        text.remove_prefix(semi + 1);
    }
}

std::string_view local_part(std::string_view qname) {
    auto colon = qname.find(':');
    return colon == std::string_view::npos ? qname : qname.substr(colon + 1);
}

bool is_name_end(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '/' || c == '>';
}

// A tag starting at doc[pos] == '<'.
struct Tag {
    enum class Kind { start, end, empty, other } kind = Kind::other;
    std::string_view name;
    std::size_t end = 0;  // one past its '>'
    bool cdata = false;   // <![CDATA[...]]>: `name` holds the data
};

std::optional<Tag> read_tag(std::string_view doc, std::size_t pos) {
    Tag t;
    std::string_view rest = doc.substr(pos);
    if (rest.starts_with("<!--")) {
        auto close = doc.find("-->", pos + 4);
        if (close == std::string_view::npos) return std::nullopt;
        t.end = close + 3;
        return t;
    }
    if (rest.starts_with("<![CDATA[")) {
        auto close = doc.find("]]>", pos + 9);
        if (close == std::string_view::npos) return std::nullopt;
        t.cdata = true;
        t.name = doc.substr(pos + 9, close - pos - 9);
        t.end = close + 3;
        return t;
    }
    if (rest.starts_with("<?") || rest.starts_with("<!")) {
        auto close = doc.find('>', pos);
        if (close == std::string_view::npos) return std::nullopt;
        t.end = close + 1;
        return t;
    }
    std::size_t i = pos + 1;
    bool closing = i < doc.size() && doc[i] == '/';
    if (closing) ++i;
    std::size_t name_start = i;
    while (i < doc.size() && !is_name_end(doc[i])) ++i;
    if (i == name_start) return std::nullopt;
    t.name = doc.substr(name_start, i - name_start);
    // Attributes: a quoted value may hold '>'.
    char quote = 0;
    for (; i < doc.size(); ++i) {
        char c = doc[i];
        if (quote) {
            if (c == quote) quote = 0;
        } else if (c == '"' || c == '\'') {
            quote = c;
        } else if (c == '>') {
            break;
        }
    }
    if (i >= doc.size()) return std::nullopt;
    t.end = i + 1;
    if (closing)
        t.kind = Tag::Kind::end;
    else if (doc[i - 1] == '/')
        t.kind = Tag::Kind::empty;
    else
        t.kind = Tag::Kind::start;
    return t;
}

}  // namespace

std::optional<std::string> element_text(std::string_view doc, std::string_view local_name,
                                        std::size_t max_bytes) {
    if (doc.size() > max_bytes) doc = doc.substr(0, max_bytes);
    std::size_t pos = 0;
    // Find the element.
    for (;;) {
        pos = doc.find('<', pos);
        if (pos == std::string_view::npos) return std::nullopt;
        auto tag = read_tag(doc, pos);
        if (!tag) return std::nullopt;
        pos = tag->end;
        if (tag->cdata || local_part(tag->name) != local_name) continue;
        if (tag->kind == Tag::Kind::empty) return std::string();
        if (tag->kind == Tag::Kind::start) break;
    }
    // Its content, up to the end tag that closes it.
    std::string out;
    int depth = 0;
    for (;;) {
        auto lt = doc.find('<', pos);
        if (lt == std::string_view::npos) return std::nullopt;
        append_decoded(out, doc.substr(pos, lt - pos));
        auto tag = read_tag(doc, lt);
        if (!tag) return std::nullopt;
        pos = tag->end;
        if (tag->cdata) {
            out.append(tag->name);
        } else if (tag->kind == Tag::Kind::start) {
            ++depth;
        } else if (tag->kind == Tag::Kind::end) {
            if (depth == 0) return out;
            --depth;
        }
    }
}

}  // namespace tinbao::xml
