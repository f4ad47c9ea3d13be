#pragma once
// Helpers shared by the parser tests.
#include "parser/buildfile.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

namespace strata::parser_test {

// The message of the error parse_buildfile throws for `text`; fails the test if none.
inline std::string error_of(std::string_view text, const parser::ParseOptions& options = {}) {
    try {
        parser::parse_buildfile(text, options);
    } catch (const strata::Error& e) {
        return e.what();
    }
    FAIL("expected an error for: " << text);
    return {};
}

inline std::string read_all(const std::filesystem::path& path) {
    std::ifstream file(path, std::ios::binary);
    REQUIRE(file);
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
}

} // namespace strata::parser_test
