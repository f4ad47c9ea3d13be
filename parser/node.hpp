#pragma once
// The line-level AST, shaped like BuildKit's parser.Node: one node per instruction under
// a root, each with its keyword as `value`, its flags, and its arguments as a singly
// linked `next` chain. Typed instructions (instructions.cpp) are built from it.
#include "parser/buildfile.hpp"

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace strata::parser {

struct Node {
    std::string value;                 // keyword as written for an instruction, else the argument
    std::unique_ptr<Node> next;        // next argument
    std::vector<Node> children;        // root: instructions; ONBUILD's argument: the wrapped one
    std::vector<std::string> flags;    // "--from=a" as written (quotes and escapes removed)
    std::vector<Heredoc> heredocs;     // RUN/COPY/ADD (also under ONBUILD): bodies read after the line
    bool json = false;                 // BuildKit's attributes["json"]: the exec (JSON) form was used
    std::string original;              // the logical line, continuations joined
    int start_line = 0;                // 1-based range of physical lines, continuations included
    int end_line = 0;
    int column = 0;                    // of the keyword on start_line

    Node() = default;
    Node(Node&&) noexcept = default;
    Node& operator=(Node&&) noexcept = default;
    ~Node();  // unlinks `next` iteratively: a chain of a million arguments must not recurse

    // The argument values along the `next` chain.
    std::vector<std::string> args() const;
};

struct Ast {
    Node root;                  // children = instructions, in file order
    char escape = '\\';         // from `# escape=`, else backslash
    std::string filename;
    std::map<std::string, std::string> directives;  // syntax / escape / check, keys lower-case
    bool heredocs = true;       // false when `# syntax=` names a frontend older than dockerfile:1.4
};

// Splits text into instructions and their arguments. Throws ParseError (directive
// errors, JSON arrays with non-strings, ENV/LABEL without `=`, no instructions at all).
Ast parse_ast(std::string_view text, std::string_view filename);

// BuildKit's Node.Dump() format, used to compare with its parser test data.
std::string dump(const Node& node);

// A stable machine-readable form of the AST with source positions (shape in ast_json.cpp).
std::string ast_json(const Ast& ast);

// Whether a `# syntax=` value names a Dockerfile frontend that reads heredocs: yes unless it
// is docker/dockerfile 1.0 to 1.3 without "-labs" (heredocs became stable in 1.4).
bool syntax_supports_heredocs(std::string_view syntax);

// Go's strconv.Quote for UTF-8 text.
std::string go_quote(std::string_view text);

// The 1-based physical line `line` of text (without its newline), for error carets.
std::string_view source_line(std::string_view text, int line);

} // namespace strata::parser
