#pragma once
// "Did you mean ...?" for unknown instructions and flags.
#include <string>
#include <string_view>
#include <vector>

namespace strata::parser {

// " (did you mean RUN?)" when one candidate is close to word (one edit for words shorter
// than five characters, two for longer ones), else "".
std::string suggestion(std::string_view word, const std::vector<std::string>& candidates);

} // namespace strata::parser
