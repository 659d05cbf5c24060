// Plain words for a YAML syntax error: the parser (yaml-cpp) says "illegal map value" or "end of
// map not found" at some column; an operator needs the line at fault and what was expected
// there ("indent it like 'listen' above, with 2 spaces"). Used by the config loader and the
// template loader.
//
// Pure functions over the file's text; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace tinbao {

struct YamlProblem {
    int line = 0;         // 1-based: the line to look at (may be before the parser's)
    std::string message;  // what is wrong and what was expected, then the parser's words
};

// `line` and `column` are 1-based, where the parser stopped; `parser_message` its text.
YamlProblem explain_yaml_error(std::string_view content, int line, int column,
                               std::string_view parser_message);

}  // namespace tinbao
