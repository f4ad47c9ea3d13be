#include "parser/utf8.hpp"

namespace strata::parser::utf8 {

namespace {

bool is_continuation(unsigned char byte) { return (byte & 0xC0) == 0x80; }

} // namespace

Rune decode(std::string_view text, std::size_t pos) {
    const auto lead = static_cast<unsigned char>(text[pos]);
    if (lead < 0x80) {
        return {lead, 1, true};
    }
    std::size_t width = 0;
    char32_t value = 0;
    char32_t minimum = 0;
    if ((lead & 0xE0) == 0xC0) {
        width = 2, value = lead & 0x1F, minimum = 0x80;
    } else if ((lead & 0xF0) == 0xE0) {
        width = 3, value = lead & 0x0F, minimum = 0x800;
    } else if ((lead & 0xF8) == 0xF0) {
        width = 4, value = lead & 0x07, minimum = 0x10000;
    } else {
        return {invalid, 1, false};
    }
    if (pos + width > text.size()) {
        return {invalid, 1, false};
    }
    for (std::size_t i = 1; i < width; ++i) {
        const auto byte = static_cast<unsigned char>(text[pos + i]);
        if (!is_continuation(byte)) {
            return {invalid, 1, false};
        }
        value = (value << 6) | (byte & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are invalid, as in Go.
    if (value < minimum || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) {
        return {invalid, 1, false};
    }
    return {value, width, true};
}

void append(std::string& out, char32_t rune) {
    if (rune < 0x80) {
        out += static_cast<char>(rune);
    } else if (rune < 0x800) {
        out += static_cast<char>(0xC0 | (rune >> 6));
        out += static_cast<char>(0x80 | (rune & 0x3F));
    } else if (rune < 0x10000) {
        out += static_cast<char>(0xE0 | (rune >> 12));
        out += static_cast<char>(0x80 | ((rune >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (rune & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (rune >> 18));
        out += static_cast<char>(0x80 | ((rune >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((rune >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (rune & 0x3F));
    }
}

bool is_space(char32_t rune) {
    switch (rune) {
    case '\t': case '\n': case '\v': case '\f': case '\r': case ' ':
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029:
    case 0x202F: case 0x205F: case 0x3000:
        return true;
    default:
        return rune >= 0x2000 && rune <= 0x200A;
    }
}

bool is_digit(char32_t rune) { return rune >= '0' && rune <= '9'; }

bool is_letter(char32_t rune) {
    if (rune < 0x80) {
        return (rune >= 'a' && rune <= 'z') || (rune >= 'A' && rune <= 'Z');
    }
    return rune != invalid && is_print(rune);
}

bool is_print(char32_t rune) {
    if (rune < 0x20 || rune == 0x7F || (rune >= 0x80 && rune <= 0xA0) || rune == 0xAD) {
        return false;
    }
    if (rune < 0x80) {
        return true;
    }
    if (is_space(rune) || (rune >= 0x200B && rune <= 0x200F) || (rune >= 0x202A && rune <= 0x202E) ||
        (rune >= 0x2060 && rune <= 0x206F) || rune == 0xFEFF || (rune >= 0xFFF9 && rune <= 0xFFFB) ||
        (rune >= 0xD800 && rune <= 0xF8FF) || rune > 0x10FFFF) {
        return false;
    }
    return true;
}

} // namespace strata::parser::utf8
