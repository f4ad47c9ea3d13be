#include "util/units.hpp"

#include "util/error.hpp"

#include <ctime>
#include <string>

namespace strata {

namespace {

bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }

std::string ascii_lower(std::string_view text) {
    std::string out(text);
    for (auto& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

} // namespace

long long parse_ram_bytes(std::string_view text) {
    const auto invalid = [&] { return Error("invalid size: '" + std::string(text) + "'"); };
    std::size_t digits = 0;
    while (digits < text.size() && (is_ascii_digit(text[digits]) || text[digits] == '.')) {
        ++digits;
    }
    const auto number = text.substr(0, digits);
    if (number.empty() || !is_ascii_digit(number.front()) || number.back() == '.' || digits > 20) {
        throw invalid();
    }
    auto unit = ascii_lower(text.substr(digits));
    if (!unit.empty() && unit.front() == ' ') {
        unit.erase(0, 1);
    }
    static const std::string_view units = "kmgtp";
    double scale = 1;
    if (!unit.empty() && units.find(unit.front()) != std::string_view::npos) {
        for (std::size_t i = 0; i <= units.find(unit.front()); ++i) {
            scale *= 1024;
        }
        unit.erase(0, 1);
    }
    if (unit == "i" || unit == "ib") {
        unit.clear();
    }
    if (!unit.empty() && unit != "b") {
        throw invalid();
    }
    const double bytes = std::stod(std::string(number)) * scale;
    if (bytes > 9.2e18) {
        throw invalid();
    }
    return static_cast<long long>(bytes);
}

std::string format_rfc3339(long long seconds) {
    std::time_t t = static_cast<std::time_t>(seconds);
    std::tm tm {};
    ::gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

} // namespace strata
