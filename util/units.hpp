#pragma once
// Sizes as docker's command line and Dockerfiles write them.
#include <string_view>

namespace strata {

// docker's units.RAMInBytes: "64m", "1g", "512kb", "1.5k", "64MiB", "100" -> bytes (binary
// multiples, case-insensitive). Throws strata::Error ("invalid size: '...'").
long long parse_ram_bytes(std::string_view text);

} // namespace strata
