#pragma once
// Values of instruction flags, parsed as BuildKit parses them: Go durations (HEALTHCHECK),
// docker memory sizes (tmpfs size=), RUN --mount's CSV options. Each throws strata::Error
// with BuildKit's wording on a bad value.
#include "parser/buildfile.hpp"
#include "util/units.hpp"

#include <string_view>

namespace strata::parser {

// Go time.ParseDuration ("1m30s", "1.5h", "300ms") -> nanoseconds.
long long parse_go_duration(std::string_view text);

// docker units.RAMInBytes ("64m", "1g", "512kb", "100") -> bytes (util/units.hpp).
using strata::parse_ram_bytes;

// One --mount value ("type=cache,target=/root/.cache,sharing=locked") -> Mount. Values
// holding a `$` are kept unexpanded and only checked once the builder expands them.
Mount parse_mount(std::string_view value);

} // namespace strata::parser
