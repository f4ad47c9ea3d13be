#pragma once
// Just enough UTF-8 and Unicode classification for Go-compatible text handling
// (BuildKit's lexer and word splitter work on runes, and use unicode.IsSpace/IsLetter).
#include <cstddef>
#include <string>
#include <string_view>

namespace strata::parser::utf8 {

constexpr char32_t invalid = 0xFFFD;

struct Rune {
    char32_t value = 0;
    std::size_t width = 1;  // bytes consumed; an invalid byte counts as one
    bool valid = true;
};

Rune decode(std::string_view text, std::size_t pos);
void append(std::string& out, char32_t rune);

bool is_space(char32_t rune);   // Go unicode.IsSpace
// Go unicode.IsLetter/IsDigit: exact for ASCII; every other non-space, printable rune
// counts as a letter (names such as $안녕 work, which is what matters for expansion).
bool is_letter(char32_t rune);
bool is_digit(char32_t rune);
bool is_print(char32_t rune);   // close to Go strconv.IsPrint

} // namespace strata::parser::utf8
