#pragma once
// Node (line level) -> typed Instruction, as BuildKit's instructions/parse.go does.
#include "parser/buildfile.hpp"
#include "parser/node.hpp"

namespace strata::parser {

// Throws ParseError at the node's keyword (or at the flag, for a bad flag): unknown
// instructions (with the nearest known one suggested), wrong argument counts, unknown
// flags and bad flag values.
Instruction to_instruction(const Node& node, const Ast& ast, std::string_view text);

// The location of a node's keyword and a ParseError there.
Location location_of(const Node& node, const Ast& ast);
[[noreturn]] void fail_at(const Node& node, const Ast& ast, std::string_view text, std::string_view message);

} // namespace strata::parser
