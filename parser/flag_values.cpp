// Flag value parsers (see flag_values.hpp).
#include "parser/flag_values.hpp"

#include "parser/text.hpp"

#include <cctype>
#include <cstdint>
#include <limits>

namespace strata::parser {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Go: the unit strings time.ParseDuration accepts, in nanoseconds.
std::optional<double> duration_unit(std::string_view unit) {
    if (unit == "ns") return 1.0;
    if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") return 1e3;
    if (unit == "ms") return 1e6;
    if (unit == "s") return 1e9;
    if (unit == "m") return 60e9;
    if (unit == "h") return 3600e9;
    return std::nullopt;
}

std::optional<unsigned> parse_unsigned(std::string_view text, int base) {
    if (text.empty() || text.size() > 12) {
        return std::nullopt;
    }
    std::uint64_t value = 0;
    for (const char c : text) {
        const int digit = is_digit(c) ? c - '0' : -1;
        if (digit < 0 || digit >= base) {
            return std::nullopt;
        }
        value = value * static_cast<std::uint64_t>(base) + static_cast<std::uint64_t>(digit);
    }
    if (value > std::numeric_limits<std::uint32_t>::max()) {
        return std::nullopt;
    }
    return static_cast<unsigned>(value);
}

// Go strconv.ParseBool.
std::optional<bool> parse_bool(std::string_view text) {
    for (const std::string_view yes : {"1", "t", "T", "TRUE", "true", "True"}) {
        if (text == yes) return true;
    }
    for (const std::string_view no : {"0", "f", "F", "FALSE", "false", "False"}) {
        if (text == no) return false;
    }
    return std::nullopt;
}

// Go encoding/csv for one record: fields split on commas, "..." quotes with "" inside.
std::vector<std::string> csv_fields(std::string_view line) {
    std::vector<std::string> fields;
    std::string field;
    std::size_t pos = 0;
    while (true) {
        field.clear();
        if (pos < line.size() && line[pos] == '"') {
            ++pos;
            while (true) {
                if (pos >= line.size()) {
                    throw Error("failed to parse csv mounts: extraneous or missing \" in quoted-field");
                }
                if (line[pos] == '"') {
                    if (pos + 1 < line.size() && line[pos + 1] == '"') {
                        field += '"';
                        pos += 2;
                        continue;
                    }
                    ++pos;
                    break;
                }
                field += line[pos++];
            }
            if (pos < line.size() && line[pos] != ',') {
                throw Error("failed to parse csv mounts: extraneous or missing \" in quoted-field");
            }
        } else {
            const auto comma = line.find(',', pos);
            field = line.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
            if (field.find('"') != std::string::npos) {
                throw Error("failed to parse csv mounts: bare \" in non-quoted-field");
            }
            pos = comma == std::string_view::npos ? line.size() : comma;
        }
        fields.push_back(field);
        if (pos >= line.size()) {
            return fields;
        }
        ++pos;  // the comma
    }
}

bool has_variable(std::string_view value) { return value.find('$') != std::string_view::npos; }

bool allows_file_info(const Mount& mount) {
    return mount.type == "secret" || mount.type == "ssh" || mount.type == "cache";
}

// Options without a value: ro, readonly, rw, readwrite, required.
bool apply_bare_option(Mount& mount, const std::string& key, bool& readonly_given) {
    if (key == "readonly" || key == "ro" || key == "readwrite" || key == "rw") {
        mount.readonly = key == "readonly" || key == "ro";
        readonly_given = true;
        return true;
    }
    if (key == "required") {
        if (mount.type != "secret" && mount.type != "ssh") {
            throw Error("unexpected key '" + key + "' for mount type '" + mount.type + "'");
        }
        mount.required = true;
        return true;
    }
    return false;
}

std::optional<unsigned> file_info_number(const std::string& key, const std::string& value, int base) {
    if (has_variable(value)) {
        return std::nullopt;
    }
    const auto number = parse_unsigned(value, base);
    if (!number) {
        throw Error("invalid value " + value + " for " + key);
    }
    return number;
}

bool bool_value(const std::string& key, const std::string& value) {
    const auto parsed = parse_bool(value);
    if (!parsed) {
        throw Error("invalid value for " + key + ": " + value);
    }
    return *parsed;
}

void apply_option(Mount& mount, const std::string& key, const std::string& value, bool& readonly_given) {
    const bool literal = !has_variable(value);
    if (key == "type") {
        mount.type = literal ? ascii_lower(value) : value;
        if (literal && mount.type != "bind" && mount.type != "cache" && mount.type != "tmpfs" &&
            mount.type != "secret" && mount.type != "ssh") {
            throw Error("unsupported mount type \"" + value + "\" (expected bind, cache, tmpfs, secret or ssh)");
        }
    } else if (key == "from") {
        if (value.size() > 1 && value.find('$') != std::string::npos && value.find('$') + 1 < value.size()) {
            throw Error("'from' doesn't support variable expansion, define alias stage instead");
        }
        mount.from = value;
    } else if (key == "source" || key == "src") {
        mount.source = value;
    } else if (key == "target" || key == "dst" || key == "destination") {
        mount.target = value;
    } else if (key == "readonly" || key == "ro") {
        mount.readonly = literal ? bool_value(key, value) : true;
        readonly_given = true;
    } else if (key == "readwrite" || key == "rw") {
        mount.readonly = literal ? !bool_value(key, value) : false;
        readonly_given = true;
    } else if (key == "required") {
        if (mount.type != "secret" && mount.type != "ssh") {
            throw Error("unexpected key '" + key + "' for mount type '" + mount.type + "'");
        }
        mount.required = literal ? bool_value(key, value) : true;
    } else if (key == "id") {
        mount.id = value;
    } else if (key == "sharing") {
        mount.sharing = literal ? ascii_lower(value) : value;
        if (literal && mount.sharing != "shared" && mount.sharing != "private" && mount.sharing != "locked") {
            throw Error("unsupported sharing value \"" + value + "\" (expected shared, private or locked)");
        }
    } else if (key == "mode") {
        mount.mode = file_info_number(key, value, 8);
    } else if (key == "uid") {
        mount.uid = file_info_number(key, value, 10);
    } else if (key == "gid") {
        mount.gid = file_info_number(key, value, 10);
    } else if (key == "size") {
        if (literal) {
            mount.size = parse_ram_bytes(value);
        }
    } else if (key == "env") {
        mount.env = value;
    } else {
        throw Error("unexpected key '" + key + "' in '" + key + "=" + value + "'");
    }
}

void check_mount(const Mount& mount) {
    const auto not_allowed = [&](std::string_view what) {
        return Error(std::string(what) + " not allowed for \"" + mount.type + "\" type mounts");
    };
    if (!allows_file_info(mount)) {
        if (mount.mode) throw not_allowed("mode");
        if (mount.uid) throw not_allowed("uid");
        if (mount.gid) throw not_allowed("gid");
    }
    if (mount.size && mount.type != "tmpfs") throw not_allowed("size");
    if (!mount.env.empty() && mount.type != "secret") throw not_allowed("env");
    if (!mount.sharing.empty() && mount.type != "cache") {
        throw Error("invalid cache sharing set for " + mount.type + " mount");
    }
    if (mount.type == "secret") {
        if (!mount.from.empty()) {
            throw Error("secret mount should not have a from");
        }
        if (mount.source.empty() && mount.target.empty() && mount.id.empty() && mount.env.empty()) {
            throw Error("invalid secret mount. one of source, target, id or env required");
        }
        if (!mount.source.empty() && !mount.id.empty()) {
            throw Error("both source and id can't be set");
        }
    }
}

} // namespace

long long parse_go_duration(std::string_view text) {
    const auto invalid = [&] { return Error("time: invalid duration \"" + std::string(text) + "\""); };
    std::string_view rest = text;
    bool negative = false;
    if (!rest.empty() && (rest.front() == '-' || rest.front() == '+')) {
        negative = rest.front() == '-';
        rest.remove_prefix(1);
    }
    if (rest == "0") {
        return 0;
    }
    if (rest.empty()) {
        throw invalid();
    }
    double total = 0;
    while (!rest.empty()) {
        std::size_t digits = 0;
        while (digits < rest.size() && (is_digit(rest[digits]) || rest[digits] == '.')) {
            ++digits;
        }
        const auto number = rest.substr(0, digits);
        if (number.empty() || number == "." || number.find('.') != number.rfind('.') || number.size() > 30) {
            throw invalid();
        }
        std::size_t unit_end = digits;
        while (unit_end < rest.size() && !is_digit(rest[unit_end]) && rest[unit_end] != '.') {
            ++unit_end;
        }
        const auto unit = duration_unit(rest.substr(digits, unit_end - digits));
        if (!unit) {
            throw Error(unit_end == digits ? "time: missing unit in duration \"" + std::string(text) + "\""
                                           : "time: unknown unit \"" + std::string(rest.substr(digits, unit_end - digits)) +
                                                 "\" in duration \"" + std::string(text) + "\"");
        }
        total += std::stod(std::string(number)) * *unit;
        if (total > 9.2e18) {
            throw invalid();
        }
        rest.remove_prefix(unit_end);
    }
    const auto ns = static_cast<long long>(total);
    return negative ? -ns : ns;
}

Mount parse_mount(std::string_view value) {
    Mount mount;
    bool readonly_given = false;
    for (const auto& field : csv_fields(value)) {
        const auto eq = field.find('=');
        const auto key = ascii_lower(field.substr(0, eq));
        if (eq == std::string::npos) {
            if (apply_bare_option(mount, key, readonly_given)) {
                continue;
            }
            throw Error("invalid field '" + field + "' must be a key=value pair");
        }
        apply_option(mount, key, field.substr(eq + 1), readonly_given);
    }
    if (!readonly_given) {
        mount.readonly = mount.type != "cache" && mount.type != "tmpfs";
    }
    check_mount(mount);
    return mount;
}

} // namespace strata::parser
