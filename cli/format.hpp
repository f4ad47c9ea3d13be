#pragma once
// docker's --format for listings and inspect: "table", "json", or a Go text/template subset
// over the JSON of one row ("{{.Repository}}:{{.Tag}}", "table {{.ID}}\t{{.Size}}"), and
// the ways docker prints times and tables.
//
// Templates: text and actions. Actions: {{PIPELINE}}, {{if P}}..{{else if P}}..{{else}}..{{end}},
// {{range P}}..{{else}}..{{end}}, {{with P}}..{{end}}, and {{- / -}} trim markers. A pipeline
// is commands joined by '|' (each result becomes the next command's last argument); a
// command is an operand (".", ".Field.Sub", "string", `raw`, 12, true, (PIPELINE)) or a
// function and its operands. Functions: json, index, join, split, upper, lower, title, len,
// print, println, printf (%s %v %d %q %%), eq, ne, not, and, or, truncate, pad.
// Values print as Go's fmt does: lists "[a b]", maps "map[k:v]", null "<no value>".
#include <nlohmann/json.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace strata::cli {

using ordered_json = nlohmann::ordered_json;

class Template {
public:
    // Throws strata::Error "template parsing error: ..." for a malformed template.
    explicit Template(std::string_view text);
    ~Template();
    Template(Template&&) noexcept;
    Template& operator=(Template&&) noexcept;
    // Throws strata::Error "template: executing ..." for a field the data does not have.
    std::string render(const ordered_json& data) const;

    struct Node;  // the parsed template (format.cpp)

private:
    std::vector<Node> nodes_;
};

// How a listing prints its rows: `format` is the user's --format ("" for the default,
// "table", "json", "table TEMPLATE" or TEMPLATE); `default_table` the listing's own table
// template; `headers` maps each field to its column title ("ID" -> "IMAGE ID").
// json: one compact object per line. Table: a header line and columns aligned as docker's
// tabwriter does (3 spaces of padding, columns at least 10 wide). Rows are rendered as they
// are added, so a long listing never holds them all as JSON.
class RowPrinter {
public:
    RowPrinter(std::string_view format, const ordered_json& headers, std::string_view default_table);
    void add(const ordered_json& row);
    std::string finish();  // the output (a table needs every row before its first)

private:
    enum class Mode { json, lines, table } mode_ = Mode::json;
    std::optional<Template> template_;
    std::vector<std::string> lines_;  // a table's rendered lines, header first
    std::string out_;
};
std::string format_rows(std::string_view format, const std::vector<ordered_json>& rows, const ordered_json& headers,
                        std::string_view default_table);

// Columns aligned as Go's tabwriter (minwidth 10, padding 3): cells end at '\t'; the last
// cell of a line is not padded. Widths count UTF-8 characters.
std::string tabulate(const std::vector<std::string>& lines);

// Go's json.Marshal of a value: compact, with '<', '>' and '&' escaped in strings; with
// indent > 0, json.MarshalIndent's layout.
std::string go_json(const ordered_json& value, int indent = -1);

// "2024-05-01T12:00:00.123Z", "...+02:00" -> seconds since the epoch; nullopt if malformed.
std::optional<long long> parse_rfc3339(std::string_view text);
// docker's units.HumanDuration: "Less than a second", "About a minute", "3 hours", "2 weeks".
std::string human_duration(long long seconds);
// "3 hours ago" from an RFC 3339 time ("N/A" when there is none).
std::string time_since(std::string_view rfc3339, long long now);
// Go's time.Time.String() in local time: "2024-05-01 12:00:00 +0000 UTC".
std::string go_time_string(long long seconds);
// RFC 3339 in local time: "2024-05-01T12:00:00Z", "2024-05-01T14:00:00+02:00".
std::string local_rfc3339(long long seconds);
long long now_seconds();
// An id as docker prints it: "sha256:<hex>" whole with no_trunc, else its first 12 hex digits.
std::string short_id(std::string_view digest, bool no_trunc);

} // namespace strata::cli
