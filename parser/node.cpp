// Line level: PEGTL finds the instructions (grammar.hpp); the per-keyword argument
// rules below turn each logical line into a Node, following BuildKit's line_parsers.go.
#include "parser/node.hpp"

#include "parser/grammar.hpp"
#include "parser/text.hpp"
#include "parser/utf8.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <optional>
#include <functional>
#include <map>
#include <set>

namespace strata::parser {

namespace {

constexpr std::string_view line_blanks = " \t\v\f\r";

bool is_line_blank(char c) { return line_blanks.find(c) != std::string_view::npos; }

std::string_view trim(std::string_view text) {
    const auto first = text.find_first_not_of(line_blanks);
    if (first == std::string_view::npos) {
        return {};
    }
    return text.substr(first, text.find_last_not_of(line_blanks) - first + 1);
}

// Splits once on the first run of blanks: "COPY  a b" -> {"COPY", "a b"}.
std::pair<std::string_view, std::string_view> split_first_word(std::string_view text) {
    const auto end = std::find_if(text.begin(), text.end(), is_line_blank);
    const auto word = text.substr(0, static_cast<std::size_t>(end - text.begin()));
    auto rest = text.substr(word.size());
    const auto start = rest.find_first_not_of(line_blanks);
    return {word, start == std::string_view::npos ? std::string_view{} : rest.substr(start)};
}

std::vector<std::string> split_on_blanks(std::string_view text) {
    std::vector<std::string> words;
    while (!(text = trim(text)).empty()) {
        auto [word, rest] = split_first_word(text);
        words.emplace_back(word);
        text = rest;
    }
    return words;
}

Node make_chain(const std::vector<std::string>& values) {
    Node head;
    Node* tail = nullptr;
    for (const auto& value : values) {
        if (tail == nullptr) {
            head.value = value;
            tail = &head;
        } else {
            tail->next = std::make_unique<Node>();
            tail = tail->next.get();
            tail->value = value;
        }
    }
    return head;
}

// Flags at the start of the arguments (BuildKit extractBuilderFlags): words starting with
// "--", quotes removed, the escape character makes the next character literal.
std::pair<std::string_view, std::vector<std::string>> extract_flags(std::string_view line, char escape) {
    enum { in_spaces, in_word, in_quote } phase = in_spaces;
    std::vector<std::string> flags;
    std::string word;
    char quote = 0;
    bool blank_ok = false;
    for (std::size_t pos = 0; pos <= line.size(); ++pos) {
        const char ch = pos < line.size() ? line[pos] : 0;
        if (phase == in_spaces) {
            if (pos == line.size()) {
                break;
            }
            if (is_line_blank(ch) || ch == '\n') {
                continue;
            }
            if (ch != '-' || pos + 1 == line.size() || line[pos + 1] != '-') {
                return {line.substr(pos), flags};
            }
            phase = in_word;
        }
        if (pos == line.size()) {
            if (word != "--" && (blank_ok || !word.empty())) {
                flags.push_back(word);
            }
            break;
        }
        if (phase == in_word) {
            if (is_line_blank(ch) || ch == '\n') {
                phase = in_spaces;
                if (word == "--") {
                    return {line.substr(pos), flags};
                }
                if (blank_ok || !word.empty()) {
                    flags.push_back(word);
                }
                word.clear();
                blank_ok = false;
                continue;
            }
            if (ch == '\'' || ch == '"') {
                quote = ch;
                blank_ok = true;
                phase = in_quote;
                continue;
            }
        } else if (ch == quote) {  // in_quote
            phase = in_word;
            continue;
        }
        char literal = ch;
        if (ch == escape) {
            if (pos + 1 == line.size()) {
                phase = in_word;
                continue;  // an escape at the very end is dropped
            }
            literal = line[++pos];
        }
        word += literal;
    }
    return {{}, flags};
}

// BuildKit parseWords (ENV, LABEL, ARG): split on unquoted white space, keeping quotes
// and escapes in the words; they are removed later by the lexer.
std::vector<std::string> parse_words(std::string_view rest, char escape) {
    enum { in_spaces, in_word, in_quote } phase = in_spaces;
    std::vector<std::string> words;
    std::string word;
    char32_t quote = 0;
    bool blank_ok = false;
    std::size_t width = 0;
    for (std::size_t pos = 0; pos <= rest.size(); pos += width) {
        utf8::Rune rune;
        if (pos < rest.size()) {
            rune = utf8::decode(rest, pos);
        }
        width = rune.width;
        const auto raw = [&](std::size_t at, std::size_t n) { word.append(rest.substr(at, n)); };
        if (phase == in_spaces) {
            if (pos == rest.size()) {
                break;
            }
            if (utf8::is_space(rune.value)) {
                continue;
            }
            phase = in_word;
        }
        if (pos == rest.size()) {
            if (blank_ok || !word.empty()) {
                words.push_back(word);
            }
            break;
        }
        const bool is_escape = rune.value == static_cast<unsigned char>(escape);
        if (phase == in_word) {
            if (utf8::is_space(rune.value)) {
                phase = in_spaces;
                if (blank_ok || !word.empty()) {
                    words.push_back(word);
                }
                word.clear();
                blank_ok = false;
                continue;
            }
            if (rune.value == '\'' || rune.value == '"') {
                quote = rune.value;
                blank_ok = true;
                phase = in_quote;
            }
        } else {
            if (rune.value == quote) {
                phase = in_word;
            }
            if (!is_escape || quote == '\'') {
                raw(pos, width);
                continue;
            }
        }
        if (is_escape) {
            if (pos + width == rest.size()) {
                phase = in_word;
                continue;  // an escape at the very end is dropped
            }
            raw(pos, width);
            pos += width;
            width = utf8::decode(rest, pos).width;
        }
        raw(pos, width);
    }
    return words;
}

// Validates a JSON text with Go's encoding/json strictness and collects the top-level
// array's elements, without building a tree (so deep nesting cannot exhaust the stack).
struct JsonArrayCollector : nlohmann::json::json_sax_t {
    std::vector<std::string> strings;
    bool non_string = false;
    int depth = 0;

    bool element() {
        non_string = non_string || depth == 1;
        return true;
    }
    bool null() override { return element(); }
    bool boolean(bool) override { return element(); }
    bool number_integer(number_integer_t) override { return element(); }
    bool number_unsigned(number_unsigned_t) override { return element(); }
    bool number_float(number_float_t, const string_t&) override { return element(); }
    bool string(string_t& value) override {
        if (depth == 1) {
            strings.push_back(value);
        }
        return true;
    }
    bool binary(binary_t&) override { return element(); }
    bool start_object(std::size_t) override {
        element();
        ++depth;
        return true;
    }
    bool key(string_t&) override { return true; }
    bool end_object() override {
        --depth;
        return true;
    }
    bool start_array(std::size_t) override {
        if (depth > 0) {
            element();
        }
        ++depth;
        return true;
    }
    bool end_array() override {
        --depth;
        return true;
    }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
        return false;
    }
};

const char* const not_string_array = "when using JSON array syntax, arrays must be comprised of strings only";

// nullopt when rest is not a JSON array (then the caller uses the plain form).
std::optional<std::vector<std::string>> parse_json_array(std::string_view rest) {
    const auto start = rest.find_first_not_of(" \t\n\v\f\r");
    if (start == std::string_view::npos || rest[start] != '[') {
        return std::nullopt;
    }
    JsonArrayCollector collector;
    if (!nlohmann::json::sax_parse(rest.substr(start), &collector)) {
        return std::nullopt;
    }
    if (collector.non_string) {
        throw Error(not_string_array);
    }
    return collector.strings;
}

using ArgParser = std::function<void(Node&, std::string_view rest, char escape)>;

void args_whitespace_delimited(Node& node, std::string_view rest, char) {
    auto words = split_on_blanks(rest);
    if (!words.empty()) {
        node.next = std::make_unique<Node>(make_chain(words));
    }
}

void args_maybe_json_list(Node& node, std::string_view rest, char escape) {
    if (auto elements = parse_json_array(rest)) {
        node.json = true;
        if (!elements->empty()) {
            node.next = std::make_unique<Node>(make_chain(*elements));
        }
        return;
    }
    args_whitespace_delimited(node, rest, escape);
}

void args_maybe_json(Node& node, std::string_view rest, char) {
    if (rest.empty()) {
        return;
    }
    if (auto elements = parse_json_array(rest)) {
        node.json = true;
        if (!elements->empty()) {
            node.next = std::make_unique<Node>(make_chain(*elements));
        }
        return;
    }
    node.next = std::make_unique<Node>(make_chain({std::string(rest)}));
}

void args_string(Node& node, std::string_view rest, char) {
    if (!rest.empty()) {
        node.next = std::make_unique<Node>(make_chain({std::string(rest)}));
    }
}

// ENV and LABEL: `K V` (old form) or `K=V ...`; each pair becomes nodes key, value, sep.
void args_name_value(Node& node, std::string_view rest, char escape) {
    const auto words = parse_words(rest, escape);
    if (words.empty()) {
        return;
    }
    const std::string keyword = ascii_lower(node.value) == "env" ? "ENV" : "LABEL";
    std::vector<std::string> values;
    if (words.front().find('=') == std::string::npos) {
        auto [key, value] = split_first_word(rest);
        if (value.empty()) {
            throw Error(keyword + " must have two arguments");
        }
        values = {std::string(key), std::string(value), ""};
    } else {
        for (const auto& word : words) {
            const auto eq = word.find('=');
            if (eq == std::string::npos) {
                throw Error("Syntax error - can't find = in \"" + word + "\". Must be of the form: name=value");
            }
            values.insert(values.end(), {word.substr(0, eq), word.substr(eq + 1), "="});
        }
    }
    node.next = std::make_unique<Node>(make_chain(values));
}

void args_words(Node& node, std::string_view rest, char escape) {
    const auto words = parse_words(rest, escape);
    if (!words.empty()) {
        node.next = std::make_unique<Node>(make_chain(words));
    }
}

void args_healthcheck(Node& node, std::string_view rest, char escape) {
    if (rest.empty()) {
        return;
    }
    auto [type, command] = split_first_word(rest);
    Node cmd;
    cmd.value = std::string(type);
    args_maybe_json(cmd, command, escape);
    node.json = cmd.json;
    node.next = std::make_unique<Node>(std::move(cmd));
}

void args_ignored(Node& node, std::string_view, char) { node.next = std::make_unique<Node>(); }

Node node_from_line(std::string_view line, char escape);

void args_onbuild(Node& node, std::string_view rest, char escape) {
    if (rest.empty()) {
        return;
    }
    // BuildKit rejects chained ONBUILD later; refusing it here also bounds the recursion.
    if (ascii_lower(split_first_word(rest).first) == "onbuild") {
        throw Error("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
    }
    auto wrapper = std::make_unique<Node>();
    wrapper->children.push_back(node_from_line(rest, escape));
    node.next = std::move(wrapper);
}

const std::map<std::string, ArgParser>& arg_parsers() {
    static const std::map<std::string, ArgParser> parsers = {
        {"add", args_maybe_json_list},        {"arg", args_words},
        {"cmd", args_maybe_json},             {"copy", args_maybe_json_list},
        {"entrypoint", args_maybe_json},      {"env", args_name_value},
        {"expose", args_whitespace_delimited}, {"from", args_whitespace_delimited},
        {"healthcheck", args_healthcheck},    {"label", args_name_value},
        {"maintainer", args_string},          {"onbuild", args_onbuild},
        {"run", args_maybe_json},             {"shell", args_maybe_json},
        {"stopsignal", args_string},          {"user", args_string},
        {"volume", args_maybe_json_list},     {"workdir", args_string},
    };
    return parsers;
}

// One logical line -> instruction node (BuildKit newNodeFromLine).
Node node_from_line(std::string_view line, char escape) {
    auto [keyword, after_keyword] = split_first_word(trim(line));
    auto [rest, flags] = extract_flags(after_keyword, escape);
    Node node;
    node.value = std::string(keyword);
    node.flags = std::move(flags);
    node.original = std::string(trim(line));
    const auto parser = arg_parsers().find(ascii_lower(keyword));
    if (parser == arg_parsers().end()) {
        args_ignored(node, {}, escape);
    } else {
        parser->second(node, trim(rest), escape);
    }
    return node;
}

// ---- PEGTL actions: fill LineState ----------------------------------------------------

struct LineState {
    Ast& ast;
    std::string_view text;
    std::set<std::string> seen_directives;
    std::string directive_key;
    // The instruction being read.
    std::string logical_line;
    int start_line = 0;
    int column = 0;
    int end_line = 0;
};

[[noreturn]] void fail_at(const LineState& state, int line, int column, std::string_view message) {
    throw ParseError({state.ast.filename, line, column}, message, source_line(state.text, line));
}

template <typename Rule>
struct action : tao::pegtl::nothing<Rule> {};

template <>
struct action<grammar::directive_key> {
    template <typename Input>
    static void apply(const Input& in, LineState& state) {
        state.directive_key = ascii_lower(in.string_view());
    }
};

template <>
struct action<grammar::directive_value> {
    template <typename Input>
    static void apply(const Input& in, LineState& state) {
        const auto line = static_cast<int>(in.position().line);
        if (!state.seen_directives.insert(state.directive_key).second) {
            fail_at(state, line, 1, "only one " + state.directive_key + " parser directive can be used");
        }
        if (state.directive_key != "escape") {
            return;
        }
        const auto value = trim(in.string_view());
        if (value != "\\" && value != "`") {
            fail_at(state, line, static_cast<int>(in.position().column),
                    "invalid escape token '" + std::string(value) + "' does not match ^[\\\\`]$");
        }
        state.ast.escape = value.front();
    }
};

template <char E>
struct action<grammar::keyword<E>> {
    template <typename Input>
    static void apply(const Input& in, LineState& state) {
        state.start_line = state.end_line = static_cast<int>(in.position().line);
        state.column = static_cast<int>(in.position().column);
        state.logical_line = in.string();
    }
};

template <char E>
struct action<grammar::line_body<E>> {
    template <typename Input>
    static void apply(const Input& in, LineState& state) {
        auto piece = in.string_view();
        while (!piece.empty() && piece.back() == '\r') {
            piece.remove_suffix(1);
        }
        state.logical_line += piece;
        if (!piece.empty()) {
            state.end_line = static_cast<int>(in.position().line);
        }
    }
};

template <char E>
struct action<grammar::instruction<E>> {
    template <typename Input>
    static void apply(const Input&, LineState& state) {
        Node node;
        try {
            node = node_from_line(state.logical_line, E);
        } catch (const ParseError&) {
            throw;
        } catch (const Error& e) {
            fail_at(state, state.start_line, state.column, e.message());
        }
        node.start_line = state.start_line;
        node.end_line = state.end_line;
        node.column = state.column;
        state.ast.root.children.push_back(std::move(node));
    }
};

template <>
struct action<grammar::stray_text> {
    template <typename Input>
    static void apply(const Input& in, LineState& state) {
        fail_at(state, static_cast<int>(in.position().line), static_cast<int>(in.position().column),
                "line continuation without an instruction");
    }
};

template <char E>
void parse_body(tao::pegtl::memory_input<>& in, LineState& state) {
    if (!tao::pegtl::parse<grammar::body<E>, action>(in, state)) {
        throw Error("internal error: the Buildfile grammar did not match");  // body always matches
    }
}

void append_quoted_rune(std::string& out, char32_t rune) {
    static constexpr char hex[] = "0123456789abcdef";
    switch (rune) {
    case '"': out += "\\\""; return;
    case '\\': out += "\\\\"; return;
    case '\a': out += "\\a"; return;
    case '\b': out += "\\b"; return;
    case '\f': out += "\\f"; return;
    case '\n': out += "\\n"; return;
    case '\r': out += "\\r"; return;
    case '\t': out += "\\t"; return;
    case '\v': out += "\\v"; return;
    default: break;
    }
    if (rune == ' ' || utf8::is_print(rune)) {
        utf8::append(out, rune);
    } else if (rune < 0x20 || rune == 0x7F) {
        out += {'\\', 'x', hex[rune >> 4], hex[rune & 0xF]};
    } else {
        const int digits = rune > 0xFFFF ? 8 : 4;
        out += rune > 0xFFFF ? "\\U" : "\\u";
        for (int shift = (digits - 1) * 4; shift >= 0; shift -= 4) {
            out += hex[(rune >> shift) & 0xF];
        }
    }
}

} // namespace

Node::~Node() {
    for (auto arg = std::move(next); arg;) {
        arg = std::move(arg->next);
    }
}

std::vector<std::string> Node::args() const {
    std::vector<std::string> values;
    for (const Node* arg = next.get(); arg != nullptr; arg = arg->next.get()) {
        values.push_back(arg->value);
    }
    return values;
}

std::string_view source_line(std::string_view text, int line) {
    std::size_t begin = 0;
    for (int current = 1; current < line; ++current) {
        begin = text.find('\n', begin);
        if (begin == std::string_view::npos) {
            return {};
        }
        ++begin;
    }
    auto end = text.find('\n', begin);
    auto result = text.substr(begin, end == std::string_view::npos ? std::string_view::npos : end - begin);
    while (!result.empty() && result.back() == '\r') {
        result.remove_suffix(1);
    }
    return result;
}

Ast parse_ast(std::string_view text, std::string_view filename) {
    Ast ast;
    ast.filename = std::string(filename);
    LineState state{ast, text, {}, {}, {}, 0, 0, 0};
    std::string_view content = text;
    int bom_column = 1;
    if (content.substr(0, 3) == "\xEF\xBB\xBF") {
        content.remove_prefix(3);
        bom_column = 4;
    }
    tao::pegtl::memory_input<> in(content.data(), content.data() + content.size(), ast.filename, 0, 1,
                                  static_cast<std::size_t>(bom_column));
    tao::pegtl::parse<grammar::directives, action>(in, state);
    if (ast.escape == '`') {
        parse_body<'`'>(in, state);
    } else {
        parse_body<'\\'>(in, state);
    }
    if (ast.root.children.empty()) {
        throw ParseError({ast.filename, 1, 1}, "file with no instructions", source_line(text, 1));
    }
    ast.root.start_line = ast.root.children.front().start_line;
    ast.root.end_line = ast.root.children.back().end_line;
    return ast;
}

std::string go_quote(std::string_view text) {
    std::string out = "\"";
    for (std::size_t pos = 0; pos < text.size();) {
        const auto rune = utf8::decode(text, pos);
        if (!rune.valid) {
            static constexpr char hex[] = "0123456789abcdef";
            const auto byte = static_cast<unsigned char>(text[pos]);
            out += {'\\', 'x', hex[byte >> 4], hex[byte & 0xF]};
        } else {
            append_quoted_rune(out, rune.value);
        }
        pos += rune.width;
    }
    return out + "\"";
}

std::string dump(const Node& node) {
    std::string out = ascii_lower(node.value);
    if (!node.flags.empty()) {
        out += " [";
        for (std::size_t i = 0; i < node.flags.size(); ++i) {
            out += (i ? " " : "") + go_quote(node.flags[i]);
        }
        out += "]";
    }
    for (const auto& child : node.children) {
        out += "(" + dump(child) + ")\n";
    }
    for (const Node* arg = node.next.get(); arg != nullptr; arg = arg->next.get()) {
        out += " ";
        out += arg->children.empty() ? go_quote(arg->value) : dump(*arg);
    }
    const auto first = out.find_first_not_of(" \t\n\v\f\r");
    if (first == std::string::npos) {
        return {};
    }
    return out.substr(first, out.find_last_not_of(" \t\n\v\f\r") - first + 1);
}

} // namespace strata::parser
