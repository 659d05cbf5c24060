// The compiled form of a template, internal to the template engine: the parser
// (template_parse.cpp) builds this tree once at load, the renderer (template_render.cpp) walks
// it for every message. Nothing outside daemon/render/template_*.cpp includes this header.
//
// A tree is immutable once compiled; Template shares it between copies and threads.
#pragma once

#include "daemon/render/template.hpp"

#include <boost/json/value.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace tinbao::tpl::detail {

struct Pos {
    int line = 1;
    int column = 1;
};

enum class FilterKind { upper, lower, unaccent, default_, date, vnd, truncate, mask_phone };

struct Filter {
    FilterKind kind;
    std::string text;       // default(...) and date(...)
    std::size_t count = 0;  // truncate(...)
};

struct Node;
using Nodes = std::vector<Node>;

struct TextNode {
    std::string text;
};

// `{{ path | filter | ... }}`; `pos` is where its `{{` stands, for error messages.
struct ExprNode {
    std::vector<std::string> path;
    std::string path_text;
    std::vector<Filter> filters;
    Pos pos;
};

struct Branch {
    std::vector<std::string> path;  // empty for `else`
    Nodes body;
    Pos pos;  // where its `{%` stands
};

struct IfNode {
    std::vector<Branch> branches;
};

struct Node {
    std::variant<TextNode, ExprNode, IfNode> v;
};

// Thrown inside the parser only; Template::Impl::compile turns it into an Error value.
struct SyntaxError {
    Pos pos;
    std::string message;
};

// Levenshtein distance, for "did you mean" suggestions.
std::size_t edit_distance(std::string_view a, std::string_view b);

// Parses `src`, which starts at (line, column) of its file; `indent` is added to the column of
// every line after the first (YAML block scalars). Throws SyntaxError.
Nodes parse(std::string_view src, int line, int column, int indent);

}  // namespace tinbao::tpl::detail

namespace tinbao::tpl {

struct Template::Impl {
    // `indent` as for detail::parse.
    static std::variant<Template, Error> compile(std::string_view source, std::string file,
                                                 int line, int column, int indent);

    std::string source;
    std::string file;
    detail::Nodes nodes;

    std::optional<Error> render(const detail::Nodes& list, const boost::json::value& ctx,
                                const RenderOptions& opts, std::string& out) const;

private:
    std::optional<Error> expr(const detail::ExprNode& e, const boost::json::value& ctx,
                              const RenderOptions& opts, std::string& out) const;
    Error error_at(const detail::ExprNode& e, std::string message) const;
};

}  // namespace tinbao::tpl
