#pragma once
// Sizes and times as docker's command line, Dockerfiles and image configs write them.
#include <string>
#include <string_view>

namespace strata {

// docker's units.RAMInBytes: "64m", "1g", "512kb", "1.5k", "64MiB", "100" -> bytes (binary
// multiples, case-insensitive). Throws strata::Error ("invalid size: '...'").
long long parse_ram_bytes(std::string_view text);

// 1700000000 -> "2023-11-14T22:13:20Z": UTC, whole seconds, as image configs carry times.
std::string format_rfc3339(long long seconds_since_epoch);

} // namespace strata
