// Line level: PEGTL finds the instructions (grammar.hpp); the per-keyword argument
// rules below turn each logical line into a Node, following BuildKit's line_parsers.go.
#include "parser/node.hpp"

#include "parser/grammar.hpp"
#include "parser/heredoc.hpp"
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

// More arguments on one instruction is an error: each is a Node, and a line of "a a a ..."
// must not be able to claim gigabytes. Real files stay far below.
constexpr std::size_t max_arguments = 1000000;

void count_argument(std::size_t count) {
    if (count >= max_arguments) {
        throw Error("too many arguments in one instruction (the limit is " + std::to_string(max_arguments) + ")");
    }
}

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
        count_argument(words.size());
        words.emplace_back(word);
        text = rest;
    }
    return words;
}

// Values are moved in: a single argument may be a 100 MB line.
Node make_chain(std::vector<std::string> values) {
    Node head;
    Node* tail = nullptr;
    for (auto& value : values) {
        if (tail == nullptr) {
            head.value = std::move(value);
            tail = &head;
        } else {
            tail->next = std::make_unique<Node>();
            tail = tail->next.get();
            tail->value = std::move(value);
        }
    }
    return head;
}

Node single_argument(std::string_view text) {
    Node node;
    node.value = std::string(text);
    return node;
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
                count_argument(words.size());
                words.push_back(word);
            }
            break;
        }
        const bool is_escape = rune.value == static_cast<unsigned char>(escape);
        if (phase == in_word) {
            if (utf8::is_space(rune.value)) {
                phase = in_spaces;
                if (blank_ok || !word.empty()) {
                    count_argument(words.size());
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
            count_argument(strings.size());
            strings.push_back(value);
        }
        return true;
    }
    bool binary(binary_t&) override { return element(); }
    // Go's encoding/json refuses nesting deeper than 10000; BuildKit then reads the text
    // as the plain form. Stopping there also bounds the work on "[[[[...".
    static constexpr int max_depth = 10000;

    bool start_object(std::size_t) override {
        element();
        return ++depth <= max_depth;
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
        return ++depth <= max_depth;
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
        node.next = std::make_unique<Node>(make_chain(std::move(words)));
    }
}

void args_maybe_json_list(Node& node, std::string_view rest, char escape) {
    if (auto elements = parse_json_array(rest)) {
        node.json = true;
        if (!elements->empty()) {
            node.next = std::make_unique<Node>(make_chain(std::move(*elements)));
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
            node.next = std::make_unique<Node>(make_chain(std::move(*elements)));
        }
        return;
    }
    node.next = std::make_unique<Node>(single_argument(rest));
}

void args_string(Node& node, std::string_view rest, char) {
    if (!rest.empty()) {
        node.next = std::make_unique<Node>(single_argument(rest));
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
    node.next = std::make_unique<Node>(make_chain(std::move(values)));
}

void args_words(Node& node, std::string_view rest, char escape) {
    const auto words = parse_words(rest, escape);
    if (!words.empty()) {
        node.next = std::make_unique<Node>(make_chain(std::move(words)));
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

[[noreturn]] void fail_at(std::string_view filename, std::string_view text, int line, int column,
                          std::string_view message) {
    throw ParseError({std::string(filename), line, column}, message, source_line(text, line));
}

// BuildKit reads heredocs for RUN, COPY and ADD in shell form, also under ONBUILD.
bool can_contain_heredoc(const Node& node) {
    const Node* inner = &node;
    if (ascii_lower(node.value) == "onbuild" && node.next && !node.next->children.empty()) {
        inner = &node.next->children.front();
    }
    const auto keyword = ascii_lower(inner->value);
    return (keyword == "run" || keyword == "copy" || keyword == "add") && !inner->json;
}

struct LineState {
    LineState(Ast& ast_, std::string_view text_) : ast(ast_), text(text_) {}

    Ast& ast;
    std::string_view text;
    std::set<std::string> seen_directives;
    std::string directive_key;
    // The instruction being read. Its logical line is a view into the input while it is one
    // contiguous piece (the usual case, and no copy of a huge line), and is joined into
    // `joined` once a continuation follows.
    std::string_view logical_line;
    std::string joined;
    int start_line = 0;
    int column = 0;
    int end_line = 0;

    void start_line_text(std::string_view keyword) {
        logical_line = keyword;
        joined.clear();
    }

    void append_line_text(std::string_view piece) {
        if (piece.empty()) {
            return;
        }
        const bool contiguous = joined.empty() && logical_line.data() + logical_line.size() == piece.data();
        if (contiguous) {
            logical_line = std::string_view(logical_line.data(), logical_line.size() + piece.size());
            return;
        }
        if (joined.empty()) {
            joined = logical_line;
        }
        joined += piece;
        logical_line = joined;
    }

    [[noreturn]] void fail(int line, int column, std::string_view message) const {
        fail_at(ast.filename, text, line, column, message);
    }

    // Called by grammar::heredoc_bodies right after an instruction: reads each heredoc the
    // instruction opened, line by line, up to its terminator (tabs ignored for <<-).
    template <typename Input>
    void read_heredoc_bodies(Input& in) {
        auto& node = ast.root.children.back();
        for (auto& heredoc : node.heredocs) {
            bool terminated = false;
            while (!in.empty()) {
                const auto line = next_physical_line(in);
                auto candidate = line;
                while (!candidate.empty() && (candidate.back() == '\n' || candidate.back() == '\r')) {
                    candidate.remove_suffix(1);
                }
                if (heredoc.chomp) {
                    candidate.remove_prefix(std::min(candidate.find_first_not_of('\t'), candidate.size()));
                }
                node.end_line = static_cast<int>(in.position().line);
                in.bump(line.size());
                if (candidate == heredoc.name) {
                    terminated = true;
                    break;
                }
                heredoc.content += line;
            }
            if (!terminated) {
                fail(node.start_line, node.column, "unterminated heredoc <<" + heredoc.name);
            }
        }
    }

    template <typename Input>
    static std::string_view next_physical_line(const Input& in) {
        const std::string_view rest(in.current(), in.size());
        const auto newline = rest.find('\n');
        return rest.substr(0, newline == std::string_view::npos ? rest.size() : newline + 1);
    }
};

[[noreturn]] void fail_at(const LineState& state, int line, int column, std::string_view message) {
    state.fail(line, column, message);
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
        const auto value = trim(in.string_view());
        state.ast.directives[state.directive_key] = std::string(value);
        if (state.directive_key == "syntax") {
            state.ast.heredocs = syntax_supports_heredocs(value);
        }
        if (state.directive_key != "escape") {
            return;
        }
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
        state.start_line_text(in.string_view());
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
        state.append_line_text(piece);
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
        if (state.ast.heredocs && can_contain_heredoc(node)) {
            try {
                node.heredocs = heredocs_in_line(state.logical_line);
            } catch (const Error& e) {
                fail_at(state, state.start_line, state.column, e.message());
            }
        }
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
    if (text.substr(0, 3) == "\xEF\xBB\xBF") {
        text.remove_prefix(3);
    }
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
    LineState state(ast, text);
    std::string_view content = text;
    // A byte-order mark is dropped; columns count from the character after it.
    if (content.substr(0, 3) == "\xEF\xBB\xBF") {
        content.remove_prefix(3);
    }
    tao::pegtl::memory_input<> in(content.data(), content.data() + content.size(), ast.filename, 0, 1, 1);
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

static void append_go_quoted(std::string& out, std::string_view text) {
    out += '"';
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
    out += '"';
}

std::string go_quote(std::string_view text) {
    std::string out;
    out.reserve(text.size() + 2);
    append_go_quoted(out, text);
    return out;
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
        out += ' ';
        if (arg->children.empty()) {
            append_go_quoted(out, arg->value);
        } else {
            out += dump(*arg);
        }
    }
    // Trimmed in place: the text may be huge.
    const auto last = out.find_last_not_of(" \t\n\v\f\r");
    out.erase(last == std::string::npos ? 0 : last + 1);
    out.erase(0, std::min(out.size(), out.find_first_not_of(" \t\n\v\f\r")));
    return out;
}

} // namespace strata::parser
