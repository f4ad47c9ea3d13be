// "Did you mean ...?" by Levenshtein distance, and ParseError's message: position, the
// offending line (a window of it when long) and a caret.
#include "parser/suggest.hpp"

#include "parser/buildfile.hpp"

#include <algorithm>
#include <utility>

namespace strata::parser {

namespace {

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) {
        row[j] = j;
    }
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diagonal = above;
        }
    }
    return row[b.size()];
}

std::string caret_line(std::string_view source, int column) {
    // Keep tabs so the caret lines up; count UTF-8 characters, not bytes.
    std::string out;
    for (std::size_t i = 0; i + 1 < static_cast<std::size_t>(column) && i < source.size(); ++i) {
        const auto c = static_cast<unsigned char>(source[i]);
        if ((c & 0xC0) != 0x80) {
            out += c == '\t' ? '\t' : ' ';
        }
    }
    return out + "^";
}

// A window of a long source line around the column, so that an error on a 100 MB line
// stays readable. Returns the text shown and the column within it.
std::pair<std::string, int> source_window(std::string_view source, int column) {
    constexpr std::size_t width = 160;
    if (source.size() <= width) {
        return {std::string(source), column};
    }
    std::size_t begin = column > 80 ? static_cast<std::size_t>(column) - 80 : 0;
    begin = std::min(begin, source.size());
    while (begin < source.size() && (static_cast<unsigned char>(source[begin]) & 0xC0) == 0x80) {
        ++begin;  // start on a character boundary
    }
    std::size_t end = std::min(source.size(), begin + width);
    while (end < source.size() && (static_cast<unsigned char>(source[end]) & 0xC0) == 0x80) {
        ++end;
    }
    std::string shown = begin > 0 ? "..." : "";
    shown.append(source.substr(begin, end - begin));
    if (end < source.size()) {
        shown.append("...");
    }
    return {shown, column - static_cast<int>(begin) + (begin > 0 ? 3 : 0)};
}

std::string format_parse_error(const Location& where, std::string_view what, std::string_view source) {
    // Appended piece by piece: GCC 12 warns falsely (-Wrestrict) on long operator+ chains.
    std::string out = where.file;
    out.append(":").append(std::to_string(where.line)).append(":").append(std::to_string(where.column));
    out.append(": ").append(what);
    if (!source.empty()) {
        const auto [shown, column] = source_window(source, where.column);
        out.append("\n").append(shown).append("\n").append(caret_line(shown, column));
    }
    return out;
}

} // namespace

// " (did you mean RUN?)" when one candidate is close: one edit for short words, two for longer.
std::string suggestion(std::string_view word, const std::vector<std::string>& candidates) {
    if (word.empty() || word.size() > 64) {
        return {};
    }
    const std::size_t allowed = word.size() < 5 ? 1 : 2;
    std::string best;
    std::size_t best_distance = allowed + 1;
    for (const auto& candidate : candidates) {
        const auto distance = edit_distance(word, candidate);
        if (distance < best_distance) {
            best_distance = distance;
            best = candidate;
        }
    }
    return best.empty() ? std::string() : " (did you mean " + best + "?)";
}

ParseError::ParseError(Location where, std::string_view what, std::string_view source_line)
    : Error(format_parse_error(where, what, source_line)), where_(std::move(where)) {}

} // namespace strata::parser
