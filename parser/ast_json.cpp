// `strata parse --format json`: the line-level AST as JSON, with source positions.
//
// Shape (keys always present, in this order; strings are UTF-8, invalid bytes become U+FFFD):
// {
//   "file": "Buildfile",
//   "escape": "\\",                         the escape character in effect
//   "directives": {"syntax": "..."},        parser directives found at the top, keys lower-case
//   "instructions": [
//     {
//       "keyword": "RUN",                   as written (case kept)
//       "line": 3, "column": 1,             1-based position of the keyword
//       "end_line": 5,                      last physical line, continuations and heredocs included
//       "flags": ["--mount=type=cache,target=/x"],   quotes and escapes removed, as BuildKit
//       "json": false,                      the exec (JSON array) form was used
//       "args": ["echo hi"],                the argument nodes, as in the dump format
//       "heredocs": [{"name": "EOF", "content": "...", "expand": true, "chomp": false, "fd": 0}],
//       "original": "RUN echo hi",          the logical line, continuations joined
//       "onbuild": { ...same shape without line/column/end_line... }   only for ONBUILD
//     }
//   ]
// }
#include "parser/node.hpp"

#include <nlohmann/json.hpp>

namespace strata::parser {

namespace {

using Json = nlohmann::ordered_json;

Json heredoc_json(const Heredoc& heredoc) {
    Json out;
    out["name"] = heredoc.name;
    out["content"] = heredoc.content;
    out["expand"] = heredoc.expand;
    out["chomp"] = heredoc.chomp;
    out["fd"] = heredoc.fd;
    return out;
}

Json instruction_json(const Node& node, bool with_position) {
    Json out;
    out["keyword"] = node.value;
    if (with_position) {
        out["line"] = node.start_line;
        out["column"] = node.column;
        out["end_line"] = node.end_line;
    }
    out["flags"] = node.flags;
    out["json"] = node.json;
    Json args = Json::array();
    const Node* wrapped = nullptr;
    for (const Node* arg = node.next.get(); arg != nullptr; arg = arg->next.get()) {
        if (!arg->children.empty()) {
            wrapped = &arg->children.front();
        } else {
            args.push_back(arg->value);
        }
    }
    out["args"] = std::move(args);
    out["heredocs"] = Json::array();
    for (const auto& heredoc : node.heredocs) {
        out["heredocs"].push_back(heredoc_json(heredoc));
    }
    out["original"] = node.original;
    if (wrapped != nullptr) {
        out["onbuild"] = instruction_json(*wrapped, false);
    }
    return out;
}

} // namespace

std::string ast_json(const Ast& ast) {
    Json out;
    out["file"] = ast.filename;
    out["escape"] = std::string(1, ast.escape);
    out["directives"] = Json::object();
    for (const auto& [key, value] : ast.directives) {
        out["directives"][key] = value;
    }
    out["instructions"] = Json::array();
    for (const auto& node : ast.root.children) {
        out["instructions"].push_back(instruction_json(node, true));
    }
    return out.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

} // namespace strata::parser
