#pragma once
// Small text helpers several modules need; locale-free on purpose (header names, auth
// schemes and registry hosts are ASCII, and the C locale must not change their meaning).
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

namespace strata {

inline std::string ascii_lower(std::string_view text) {
    std::string out(text);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

// getenv, with an empty value taken as unset (as docker's and podman's tools take it).
inline std::optional<std::string> nonempty_env(const char* name) {
    const char* value = std::getenv(name);
    if (!value || !*value) return std::nullopt;
    return std::string(value);
}

} // namespace strata
