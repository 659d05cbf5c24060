#include "common/yaml_error.hpp"

#include <algorithm>
#include <set>
#include <vector>

namespace tinbao {
namespace {

std::vector<std::string_view> split_lines(std::string_view s) {
    std::vector<std::string_view> out;
    std::size_t start = 0;
    while (start <= s.size()) {
        std::size_t nl = s.find('\n', start);
        if (nl == std::string_view::npos) {
            out.push_back(s.substr(start));
            break;
        }
        std::string_view l = s.substr(start, nl - start);
        if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
        out.push_back(l);
        start = nl + 1;
    }
    return out;
}

int indent_of(std::string_view l) {
    int n = 0;
    while (n < static_cast<int>(l.size()) && l[n] == ' ') ++n;
    return n;
}

bool blank(std::string_view l) {
    std::size_t i = l.find_first_not_of(" \t");
    return i == std::string_view::npos || l[i] == '#';
}

bool tab_in_indent(std::string_view l) {
    for (char c : l) {
        if (c == '\t') return true;
        if (c != ' ') return false;
    }
    return false;
}

std::string spaces(int n) { return std::to_string(n) + (n == 1 ? " space" : " spaces"); }

// The key of a "key: value" line, or the start of the line.
std::string label(std::string_view l) {
    std::string_view t = l.substr(std::min<std::size_t>(l.size(), indent_of(l)));
    if (t.substr(0, 2) == "- ") t.remove_prefix(2);
    std::size_t colon = t.find(':');
    if (colon != std::string_view::npos && colon > 0) t = t.substr(0, colon);
    if (t.size() > 30) t = t.substr(0, 30);
    return "'" + std::string(t) + "'";
}

// The value after "key:" on a line (empty when none).
std::string_view value_of(std::string_view l) {
    std::size_t colon = l.find(": ");
    if (colon == std::string_view::npos) return {};
    std::string_view v = l.substr(colon + 2);
    std::size_t s = v.find_first_not_of(' ');
    return s == std::string_view::npos ? std::string_view() : v.substr(s);
}

// The indentations YAML would accept for a line after `before` (1-based line numbers): those
// of the mappings and list items it could belong to, innermost first.
std::vector<int> open_levels(const std::vector<std::string_view>& lines, int before) {
    std::vector<int> levels;
    int min_seen = 1 << 20;
    for (int i = before - 1; i >= 1; --i) {
        std::string_view l = lines[i - 1];
        if (blank(l)) continue;
        int ind = indent_of(l);
        std::string_view t = l.substr(ind);
        if (t.substr(0, 2) == "- ") {
            int content = ind + 2;
            while (content < static_cast<int>(l.size()) && l[content] == ' ') ++content;
            if (content < min_seen &&
                std::find(levels.begin(), levels.end(), content) == levels.end())
                levels.push_back(content);
        }
        if (ind < min_seen) {
            if (std::find(levels.begin(), levels.end(), ind) == levels.end()) levels.push_back(ind);
            min_seen = ind;
        }
        if (ind == 0) break;
    }
    return levels;
}

std::string level_list(const std::vector<int>& levels) {
    std::string out;
    for (std::size_t i = 0; i < levels.size(); ++i) {
        if (i) out += i + 1 == levels.size() ? " or " : ", ";
        out += std::to_string(levels[i]);
    }
    return out;
}

// The line of the `open` bracket that `close` never matched, before (line, column); 0 if none.
int unclosed(const std::vector<std::string_view>& lines, char open, char close) {
    std::vector<int> stack;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        char quote = 0;
        for (std::size_t j = 0; j < lines[i].size(); ++j) {
            char c = lines[i][j];
            if (quote) {
                if (c == '\\' && quote == '"')
                    ++j;
                else if (c == quote)
                    quote = 0;
                continue;
            }
            if (c == '#' && (j == 0 || lines[i][j - 1] == ' ')) break;
            if (c == '"' || c == '\'')
                quote = c;
            else if (c == open)
                stack.push_back(static_cast<int>(i) + 1);
            else if (c == close && !stack.empty())
                stack.pop_back();
        }
    }
    return stack.empty() ? 0 : stack.front();
}

}  // namespace

YamlProblem explain_yaml_error(std::string_view content, int line, int column,
                               std::string_view parser_message) {
    (void)column;  // the line and its neighbours say more than where the parser stopped on it
    auto lines = split_lines(content);
    const std::string tail = " (YAML: " + std::string(parser_message) + ")";
    YamlProblem p{line, std::string(parser_message)};
    if (line < 1 || line > static_cast<int>(lines.size())) return p;
    std::string_view cur = lines[line - 1];
    std::string_view msg = parser_message;

    // A tab in the indentation, on this line or the one the parser read last.
    for (int l : {line, line - 1}) {
        if (l >= 1 && tab_in_indent(lines[l - 1])) {
            return {l, "a tab in the indentation: YAML indents with spaces only" + tail};
        }
    }
    if (msg == "end of sequence flow not found" || msg == "end of map flow not found") {
        bool seq = msg.substr(7, 8) == "sequence";
        int at = unclosed(lines, seq ? '[' : '{', seq ? ']' : '}');
        if (at > 0)
            return {at, std::string("the '") + (seq ? '[' : '{') +
                            "' on this line is never closed: expected '" + (seq ? ']' : '}') +
                            "' at the end of the list" + tail};
        return {line, std::string("expected a closing '") + (seq ? ']' : '}') + "'" + tail};
    }
    if (msg.substr(0, 26) == "unknown escape character: ") {
        return {line, "in a double-quoted text a backslash starts an escape, and '\\" +
                          std::string(msg.substr(26)) +
                          "' is not one: write '\\\\' for a backslash, or use single quotes" +
                          tail};
    }
    if (msg == "illegal EOF in scalar" || msg == "end of string not found") {
        return {line, "a quoted text is not closed: expected its closing quote" + tail};
    }
    // A value starting with '{' is a YAML mapping: `sms: {{ dossier.code }} ...`.
    if (std::string_view v = value_of(cur);
        !v.empty() && v.front() == '{' &&
        (msg == "end of map not found" || msg == "illegal map value" ||
         msg == "end of map flow not found")) {
        return {line,
                "a value that starts with '{' is read as a YAML mapping: put the text in "
                "quotes (" +
                    label(cur).substr(1, label(cur).size() - 2) + ": \"" +
                    std::string(v.substr(0, std::min<std::size_t>(v.size(), 24))) + "...\")" +
                    tail};
    }
    if (msg == "illegal map value") {
        // A second ": " in one line: `sms: Ho so: xong`.
        std::string_view v = value_of(cur);
        if (!v.empty() && v.front() != '"' && v.front() != '\'' &&
            (v.find(": ") != std::string_view::npos || v.back() == ':')) {
            return {line, "a value with ': ' in it must be in quotes: " + label(cur) + ": \"...\"" +
                              tail};
        }
        // More indented than the line above, which already has a value.
        int prev = line - 1;
        while (prev >= 1 && blank(lines[prev - 1])) --prev;
        if (prev >= 1 && indent_of(cur) > indent_of(lines[prev - 1]) &&
            !value_of(lines[prev - 1]).empty()) {
            int expected = indent_of(lines[prev - 1]);
            std::string_view pt = lines[prev - 1].substr(expected);
            if (pt.substr(0, 2) == "- ") expected += 2;
            return {line, label(cur) + " is indented " + spaces(indent_of(cur)) + ", more than " +
                              label(lines[prev - 1]) + " on line " + std::to_string(prev) +
                              ", which already has a value: expected " + spaces(expected) +
                              " (or nothing after " + label(lines[prev - 1]) +
                              ": if it belongs under it)" + tail};
        }
        return {line, "expected 'key: value' (a value with ': ' in it goes in quotes)" + tail};
    }
    if (msg == "end of map not found" || msg == "end of sequence not found" ||
        msg == "illegal block entry" ||
        msg == "block sequence entries are not allowed in this context") {
        auto levels = open_levels(lines, line);
        int ind = indent_of(cur);
        if (!levels.empty() && std::find(levels.begin(), levels.end(), ind) == levels.end())
            return {line, label(cur) + " is indented " + spaces(ind) +
                              ", where the lines above allow " + level_list(levels) +
                              " spaces: line it up with the keys it belongs with" + tail};
        if (msg == "illegal block entry" || msg.substr(0, 5) == "block")
            return {line,
                    "a list item ('- ') where a 'key: value' was expected: a mapping's "
                    "keys and a list cannot share one indentation" +
                        tail};
        return {line, "expected a 'key: value' or '- item' lined up with the ones above" + tail};
    }
    p.message = std::string(parser_message);
    return p;
}

}  // namespace tinbao
