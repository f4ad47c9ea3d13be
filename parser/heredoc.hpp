#pragma once
// Heredoc detection on an instruction's logical line, as BuildKit's parser does it.
#include "parser/buildfile.hpp"

#include <string_view>
#include <vector>

namespace strata::parser {

// The heredocs a RUN/COPY/ADD line opens, in order, with empty content. The line is split
// into shell words keeping quotes and escapes (so "<<EOF" in quotes is no heredoc), and
// `<<` swallows the blanks after it (`<<  EOF` is one). Throws Error for a heredoc word
// with unbalanced quotes (<<'EOF).
// More is an error: no real file needs it, and it bounds the memory one line can claim.
constexpr std::size_t max_heredocs_per_instruction = 10000;

std::vector<Heredoc> heredocs_in_line(std::string_view line);

} // namespace strata::parser
