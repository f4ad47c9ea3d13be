// A Go text/template subset for docker's --format, docker's table layout and its times.
// The template is lexed into text and actions, parsed into a small tree, and evaluated
// over nlohmann::ordered_json (so {{json .}} keeps the order a command built).
#include "cli/format.hpp"

#include "util/error.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <functional>
#include <map>

namespace strata::cli {

namespace {

// ----- lexing: an action's contents into tokens

struct Token {
    enum Kind { identifier, field, dot, string, number, pipe, open, close, end } kind;
    std::string text;
};

[[noreturn]] void parse_error(const std::string& why) { throw Error("template parsing error: " + why); }

std::string unquote(std::string_view s, std::size_t& i) {
    std::string out;
    for (++i; i < s.size() && s[i] != '"'; ++i) {
        if (s[i] != '\\') {
            out += s[i];
            continue;
        }
        if (++i == s.size()) break;
        switch (s[i]) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        default: out += s[i];
        }
    }
    if (i == s.size()) parse_error("unterminated quoted string");
    ++i;
    return out;
}

bool is_name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::vector<Token> lex_action(std::string_view s) {
    std::vector<Token> tokens;
    std::size_t i = 0;
    while (i < s.size()) {
        const char c = s[i];
        if (std::isspace(static_cast<unsigned char>(c))) {
            ++i;
        } else if (c == '|' || c == '(' || c == ')') {
            tokens.push_back({c == '|' ? Token::pipe : c == '(' ? Token::open : Token::close, std::string(1, c)});
            ++i;
        } else if (c == '"') {
            tokens.push_back({Token::string, unquote(s, i)});
        } else if (c == '`') {
            const auto close = s.find('`', i + 1);
            if (close == std::string_view::npos) parse_error("unterminated raw string");
            tokens.push_back({Token::string, std::string(s.substr(i + 1, close - i - 1))});
            i = close + 1;
        } else if (c == '.') {
            std::size_t j = i + 1;
            while (j < s.size() && (is_name_char(s[j]) || s[j] == '.')) ++j;
            const std::string text(s.substr(i, j - i));
            tokens.push_back({text == "." ? Token::dot : Token::field, text});
            i = j;
        } else if (is_digit(c) || (c == '-' && i + 1 < s.size() && is_digit(s[i + 1]))) {
            std::size_t j = i + 1;
            while (j < s.size() && is_digit(s[j])) ++j;
            tokens.push_back({Token::number, std::string(s.substr(i, j - i))});
            i = j;
        } else if (is_name_char(c)) {
            std::size_t j = i;
            while (j < s.size() && is_name_char(s[j])) ++j;
            tokens.push_back({Token::identifier, std::string(s.substr(i, j - i))});
            i = j;
        } else {
            parse_error("unexpected '" + std::string(1, c) + "' in action '{{" + std::string(s) + "}}'");
        }
    }
    tokens.push_back({Token::end, ""});
    return tokens;
}

} // namespace

// ----- the tree

struct Pipeline;
struct Operand {
    enum Kind { field, literal, function, sub } kind = literal;
    std::vector<std::string> path;  // field: ".A.B" -> {"A", "B"}; "." -> {}
    ordered_json value;             // literal
    std::string name;               // function
    std::shared_ptr<Pipeline> pipeline;  // sub: (PIPELINE)
};
struct Command {
    std::vector<Operand> operands;
};
struct Pipeline {
    std::vector<Command> commands;
    std::string source;  // for error messages
};

struct Template::Node {
    enum Kind { text_node, action_node, if_node, range_node, with_node } kind = text_node;
    std::string text;
    Pipeline pipeline;
    std::vector<Node> body, otherwise;
};

namespace {

// Parses one action's tokens into a pipeline.
class PipelineParser {
public:
    PipelineParser(std::vector<Token> tokens, std::string source) : tokens_(std::move(tokens)), source_(std::move(source)) {}

    Pipeline parse() {
        Pipeline p = pipeline();
        if (peek().kind != Token::end) parse_error("unexpected '" + peek().text + "' in '{{" + source_ + "}}'");
        return p;
    }

private:
    const Token& peek() const { return tokens_[pos_]; }
    const Token& next() { return tokens_[pos_++]; }

    Pipeline pipeline() {
        Pipeline p;
        p.source = source_;
        while (true) {
            Command c;
            while (peek().kind != Token::pipe && peek().kind != Token::close && peek().kind != Token::end)
                c.operands.push_back(operand());
            if (c.operands.empty()) parse_error("missing command in '{{" + source_ + "}}'");
            p.commands.push_back(std::move(c));
            if (peek().kind != Token::pipe) return p;
            next();
        }
    }

    Operand operand() {
        const Token t = next();
        Operand o;
        switch (t.kind) {
        case Token::dot: o.kind = Operand::field; return o;
        case Token::field: {
            o.kind = Operand::field;
            std::string_view rest = std::string_view(t.text).substr(1);
            while (!rest.empty()) {
                const auto dot = rest.find('.');
                const std::string_view key = rest.substr(0, dot);
                if (key.empty()) parse_error("bad field '" + t.text + "'");
                o.path.emplace_back(key);
                rest = dot == std::string_view::npos ? std::string_view{} : rest.substr(dot + 1);
            }
            return o;
        }
        case Token::string: o.value = t.text; return o;
        case Token::number: o.value = std::stoll(t.text); return o;
        case Token::identifier:
            if (t.text == "true" || t.text == "false") o.value = t.text == "true";
            else if (t.text == "nil") o.value = nullptr;
            else {
                o.kind = Operand::function;
                o.name = t.text;
            }
            return o;
        case Token::open: {
            o.kind = Operand::sub;
            o.pipeline = std::make_shared<Pipeline>(pipeline());
            if (next().kind != Token::close) parse_error("unclosed '(' in '{{" + source_ + "}}'");
            return o;
        }
        default: parse_error("unexpected '" + t.text + "' in '{{" + source_ + "}}'");
        }
    }

    std::vector<Token> tokens_;
    std::size_t pos_ = 0;
    std::string source_;
};

// The template as a sequence of text pieces and actions, trim markers applied.
struct Piece {
    bool action = false;
    std::string text;  // the action's contents without the braces and trim markers
};

std::vector<Piece> split_pieces(std::string_view text) {
    std::vector<Piece> pieces;
    std::size_t i = 0;
    bool trim_next = false;
    while (i <= text.size()) {
        const auto open = text.find("{{", i);
        std::string literal(text.substr(i, open == std::string_view::npos ? std::string_view::npos : open - i));
        if (trim_next) literal.erase(0, std::min(literal.size(), literal.find_first_not_of(" \t\r\n")));  // "-}}"
        if (open == std::string_view::npos) {
            if (!literal.empty()) pieces.push_back({false, literal});
            break;
        }
        std::size_t start = open + 2;
        if (text.compare(start, 2, "- ") == 0) {  // "{{- ": trim the text before
            const auto keep = literal.find_last_not_of(" \t\r\n");
            literal.erase(keep == std::string::npos ? 0 : keep + 1);
            start += 2;
        }
        if (!literal.empty()) pieces.push_back({false, literal});
        const auto close = text.find("}}", start);
        if (close == std::string_view::npos) parse_error("unclosed action");
        std::size_t stop = close;
        trim_next = close >= start + 2 && text.compare(close - 2, 2, " -") == 0;
        if (trim_next) stop -= 2;
        pieces.push_back({true, std::string(text.substr(start, stop - start))});
        i = close + 2;
    }
    return pieces;
}

// "if .X" -> {"if", ".X"}; "end" -> {"end", ""}.
std::pair<std::string, std::string> keyword(const std::string& action) {
    const auto first = action.find_first_not_of(" \t\r\n");
    if (first == std::string::npos) return {"", ""};
    auto end = first;
    while (end < action.size() && is_name_char(action[end])) ++end;
    return {action.substr(first, end - first), action.substr(end)};
}

Pipeline parse_pipeline(const std::string& source) { return PipelineParser(lex_action(source), source).parse(); }

class TreeParser {
public:
    explicit TreeParser(std::vector<Piece> pieces) : pieces_(std::move(pieces)) {}

    std::vector<Template::Node> parse() {
        auto nodes = list();
        if (pos_ != pieces_.size()) parse_error("unexpected {{" + pieces_[pos_].text + "}}");
        return nodes;
    }

private:
    // Nodes up to (not including) an {{end}} or {{else}} at this level.
    std::vector<Template::Node> list() {
        std::vector<Template::Node> nodes;
        while (pos_ < pieces_.size()) {
            const Piece& p = pieces_[pos_];
            if (!p.action) {
                nodes.push_back({Template::Node::text_node, p.text, {}, {}, {}});
                ++pos_;
                continue;
            }
            const auto [word, rest] = keyword(p.text);
            if (word == "end" || word == "else") return nodes;
            ++pos_;
            if (word == "if") nodes.push_back(block(Template::Node::if_node, rest));
            else if (word == "range") nodes.push_back(block(Template::Node::range_node, rest));
            else if (word == "with") nodes.push_back(block(Template::Node::with_node, rest));
            else if (word == "define" || word == "template" || word == "block")
                parse_error("'" + word + "' is not supported");
            else {
                Template::Node n;
                n.kind = Template::Node::action_node;
                n.pipeline = parse_pipeline(p.text);
                nodes.push_back(std::move(n));
            }
        }
        return nodes;
    }

    Template::Node block(Template::Node::Kind kind, const std::string& condition) {
        Template::Node n;
        n.kind = kind;
        n.pipeline = parse_pipeline(condition);
        n.body = list();
        if (pos_ == pieces_.size()) parse_error("missing {{end}}");
        const auto [word, rest] = keyword(pieces_[pos_].text);
        ++pos_;
        if (word == "end") return n;
        // {{else}} or {{else if ...}}: the latter is an if nested in the else branch, sharing its {{end}}.
        const auto [inner, inner_rest] = keyword(rest);
        if (inner == "if") {
            n.otherwise.push_back(block(Template::Node::if_node, inner_rest));
            return n;
        }
        n.otherwise = list();
        if (pos_ == pieces_.size() || keyword(pieces_[pos_].text).first != "end") parse_error("missing {{end}}");
        ++pos_;
        return n;
    }

    std::vector<Piece> pieces_;
    std::size_t pos_ = 0;
};

// ----- evaluation

bool truthy(const ordered_json& v) {
    if (v.is_null()) return false;
    if (v.is_boolean()) return v.get<bool>();
    if (v.is_number()) return v.get<double>() != 0;
    if (v.is_string()) return !v.get_ref<const std::string&>().empty();
    return !v.empty();
}

std::string go_print(const ordered_json& v);

std::string go_print_map(const ordered_json& v) {
    std::map<std::string, const ordered_json*> sorted;  // Go prints map keys sorted
    for (const auto& [key, value] : v.items()) sorted[key] = &value;
    std::string out = "map[";
    for (const auto& [key, value] : sorted) {
        if (out.size() > 4) out += ' ';
        out += key + ":" + go_print(*value);
    }
    return out + "]";
}

std::string go_print(const ordered_json& v) {
    if (v.is_null()) return "<no value>";
    if (v.is_string()) return v.get<std::string>();
    if (v.is_array()) {
        std::string out = "[";
        for (const auto& item : v) {
            if (out.size() > 1) out += ' ';
            out += go_print(item);
        }
        return out + "]";
    }
    if (v.is_object()) return go_print_map(v);
    return v.dump();
}

std::string go_quote(const std::string& s) { return go_json(ordered_json(s)); }

std::string printf_like(const std::string& format, const std::vector<ordered_json>& args) {
    std::string out;
    std::size_t next = 0;
    for (std::size_t i = 0; i < format.size(); ++i) {
        if (format[i] != '%' || i + 1 == format.size()) {
            out += format[i];
            continue;
        }
        const char verb = format[++i];
        if (verb == '%') {
            out += '%';
            continue;
        }
        if (next == args.size()) {
            out += "%!" + std::string(1, verb) + "(MISSING)";
            continue;
        }
        const ordered_json& a = args[next++];
        out += verb == 'q' && a.is_string() ? go_quote(a.get<std::string>()) : go_print(a);
    }
    return out;
}

std::string title_case(std::string s) {
    bool start = true;
    for (char& c : s) {
        if (start && std::isalpha(static_cast<unsigned char>(c))) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        start = !std::isalnum(static_cast<unsigned char>(c));
    }
    return s;
}

const std::string& need_string(const ordered_json& v, const std::string& function) {
    if (!v.is_string()) throw Error("template: " + function + ": expected a string, got " + go_print(v));
    return v.get_ref<const std::string&>();
}

void need_args(const std::vector<ordered_json>& args, std::size_t n, const std::string& function) {
    if (args.size() != n)
        throw Error("template: wrong number of args for " + function + ": want " + std::to_string(n) + " got " +
                    std::to_string(args.size()));
}

ordered_json index_into(ordered_json value, const std::vector<ordered_json>& keys) {
    for (const auto& key : keys) {
        if (value.is_object() && key.is_string()) {
            const auto it = value.find(key.get<std::string>());
            value = it == value.end() ? ordered_json() : *it;
        } else if (value.is_array() && key.is_number_integer()) {
            const auto i = key.get<long long>();
            if (i < 0 || static_cast<std::size_t>(i) >= value.size())
                throw Error("template: index out of range: " + std::to_string(i));
            value = value[static_cast<std::size_t>(i)];
        } else if (value.is_null()) {
            return value;
        } else {
            throw Error("template: cannot index " + go_print(value) + " with " + go_print(key));
        }
    }
    return value;
}

ordered_json call(const std::string& name, const std::vector<ordered_json>& args) {
    using Fn = std::function<ordered_json(const std::vector<ordered_json>&)>;
    static const std::map<std::string, Fn> functions = {
        {"json", [](const auto& a) { need_args(a, 1, "json"); return ordered_json(go_json(a[0])); }},
        {"index", [](const auto& a) {
             if (a.empty()) need_args(a, 1, "index");
             return index_into(a[0], {a.begin() + 1, a.end()});
         }},
        {"join", [](const auto& a) {
             need_args(a, 2, "join");
             const std::string& sep = need_string(a[1], "join");
             if (!a[0].is_array()) return ordered_json(a[0].is_null() ? "" : go_print(a[0]));
             std::string out;
             for (std::size_t i = 0; i < a[0].size(); ++i) out += (i > 0 ? sep : "") + go_print(a[0][i]);
             return ordered_json(out);
         }},
        {"split", [](const auto& a) {
             need_args(a, 2, "split");
             const std::string& s = need_string(a[0], "split");
             const std::string& sep = need_string(a[1], "split");
             ordered_json out = ordered_json::array();
             if (sep.empty()) {
                 for (char c : s) out.push_back(std::string(1, c));
                 return out;
             }
             std::size_t start = 0;
             for (auto at = s.find(sep); at != std::string::npos; at = s.find(sep, start)) {
                 out.push_back(s.substr(start, at - start));
                 start = at + sep.size();
             }
             out.push_back(s.substr(start));
             return out;
         }},
        {"upper", [](const auto& a) {
             need_args(a, 1, "upper");
             std::string s = need_string(a[0], "upper");
             for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
             return ordered_json(s);
         }},
        {"lower", [](const auto& a) {
             need_args(a, 1, "lower");
             std::string s = need_string(a[0], "lower");
             for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
             return ordered_json(s);
         }},
        {"title", [](const auto& a) { need_args(a, 1, "title"); return ordered_json(title_case(need_string(a[0], "title"))); }},
        {"len", [](const auto& a) {
             need_args(a, 1, "len");
             if (a[0].is_string()) return ordered_json(a[0].template get_ref<const std::string&>().size());
             if (a[0].is_array() || a[0].is_object()) return ordered_json(a[0].size());
             throw Error("template: len of " + go_print(a[0]));
         }},
        {"print", [](const auto& a) {
             std::string out;  // Go's Sprint: a space between operands when neither is a string
             for (std::size_t i = 0; i < a.size(); ++i) {
                 if (i > 0 && !a[i].is_string() && !a[i - 1].is_string()) out += ' ';
                 out += go_print(a[i]);
             }
             return ordered_json(out);
         }},
        {"println", [](const auto& a) {
             std::string out;
             for (std::size_t i = 0; i < a.size(); ++i) out += (i > 0 ? " " : "") + go_print(a[i]);
             return ordered_json(out + "\n");
         }},
        {"printf", [](const auto& a) {
             if (a.empty()) need_args(a, 1, "printf");
             return ordered_json(printf_like(need_string(a[0], "printf"), {a.begin() + 1, a.end()}));
         }},
        {"eq", [](const auto& a) {
             if (a.size() < 2) need_args(a, 2, "eq");
             return ordered_json(std::any_of(a.begin() + 1, a.end(), [&](const ordered_json& b) { return a[0] == b; }));
         }},
        {"ne", [](const auto& a) { need_args(a, 2, "ne"); return ordered_json(a[0] != a[1]); }},
        {"not", [](const auto& a) { need_args(a, 1, "not"); return ordered_json(!truthy(a[0])); }},
        {"and", [](const auto& a) {
             for (const auto& v : a)
                 if (!truthy(v)) return v;
             return a.empty() ? ordered_json() : a.back();
         }},
        {"or", [](const auto& a) {
             for (const auto& v : a)
                 if (truthy(v)) return v;
             return a.empty() ? ordered_json() : a.back();
         }},
        {"truncate", [](const auto& a) {
             need_args(a, 2, "truncate");
             std::string s = need_string(a[0], "truncate");
             const auto n = a[1].is_number_integer() ? a[1].template get<long long>() : 0;
             if (n >= 0 && s.size() > static_cast<std::size_t>(n)) s.resize(static_cast<std::size_t>(n));
             return ordered_json(s);
         }},
        {"pad", [](const auto& a) {
             need_args(a, 3, "pad");
             const auto count = [](const ordered_json& v) { return v.is_number_integer() ? std::max(0LL, v.template get<long long>()) : 0LL; };
             return ordered_json(std::string(static_cast<std::size_t>(count(a[1])), ' ') + go_print(a[0]) +
                                 std::string(static_cast<std::size_t>(count(a[2])), ' '));
         }},
    };
    const auto it = functions.find(name);
    if (it == functions.end()) throw Error("template parsing error: function \"" + name + "\" not defined");
    return it->second(args);
}

class Evaluator {
public:
    explicit Evaluator(const ordered_json& root) : root_(root) {}

    void run(const std::vector<Template::Node>& nodes, const ordered_json& dot, std::string& out) const {
        for (const auto& n : nodes) {
            switch (n.kind) {
            case Template::Node::text_node: out += n.text; break;
            case Template::Node::action_node: out += go_print(pipeline(n.pipeline, dot)); break;
            case Template::Node::if_node: run(truthy(pipeline(n.pipeline, dot)) ? n.body : n.otherwise, dot, out); break;
            case Template::Node::with_node: {
                const ordered_json value = pipeline(n.pipeline, dot);
                if (truthy(value)) run(n.body, value, out);
                else run(n.otherwise, dot, out);
                break;
            }
            case Template::Node::range_node: {
                const ordered_json value = pipeline(n.pipeline, dot);
                if (!truthy(value)) {
                    run(n.otherwise, dot, out);
                    break;
                }
                if (!value.is_array() && !value.is_object()) throw Error("template: range can't iterate over " + go_print(value));
                for (const auto& item : value) run(n.body, item, out);
                break;
            }
            }
        }
    }

private:
    ordered_json pipeline(const Pipeline& p, const ordered_json& dot) const {
        ordered_json value;
        bool first = true;
        for (const auto& c : p.commands) {
            value = command(c, dot, first ? nullptr : &value, p.source);
            first = false;
        }
        return value;
    }

    ordered_json command(const Command& c, const ordered_json& dot, const ordered_json* piped, const std::string& source) const {
        const Operand& head = c.operands.front();
        if (head.kind != Operand::function) {
            if (c.operands.size() > 1 || piped)
                throw Error("template: can't give arguments to a non-function in '{{" + source + "}}'");
            return operand(head, dot, source);
        }
        std::vector<ordered_json> args;
        for (std::size_t i = 1; i < c.operands.size(); ++i) args.push_back(operand(c.operands[i], dot, source));
        if (piped) args.push_back(*piped);
        return call(head.name, args);
    }

    ordered_json operand(const Operand& o, const ordered_json& dot, const std::string& source) const {
        switch (o.kind) {
        case Operand::literal: return o.value;
        case Operand::sub: return pipeline(*o.pipeline, dot);
        case Operand::function: return call(o.name, {});
        case Operand::field: break;
        }
        const ordered_json* value = &dot;
        for (const auto& key : o.path) {
            if (value->is_null()) return ordered_json();
            if (!value->is_object())
                throw Error("template: executing \"" + source + "\": can't evaluate field " + key + " in " + go_print(*value));
            const auto it = value->find(key);
            if (it == value->end()) {
                // The top level is a fixed set of fields, as docker's typed structs are; a
                // map below it (Labels) answers a missing key with <no value>, as Go's maps do.
                if (value == &root_) throw Error("template: executing \"" + source + "\": can't evaluate field " + key);
                return ordered_json();
            }
            value = &*it;
        }
        return *value;
    }

    const ordered_json& root_;
};

std::size_t display_width(std::string_view s) {
    return static_cast<std::size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// docker's --format: literal "\t" and "\n" are a tab and a newline.
std::string unescape_format(std::string_view text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\\' && i + 1 < text.size() && (text[i + 1] == 't' || text[i + 1] == 'n')) {
            out += text[++i] == 't' ? '\t' : '\n';
        } else {
            out += text[i];
        }
    }
    return out;
}

std::string trim(std::string_view s) {
    const auto first = s.find_first_not_of(' ');
    if (first == std::string_view::npos) return "";
    return std::string(s.substr(first, s.find_last_not_of(' ') - first + 1));
}

} // namespace

Template::Template(std::string_view text) : nodes_(TreeParser(split_pieces(text)).parse()) {}
Template::~Template() = default;
Template::Template(Template&&) noexcept = default;
Template& Template::operator=(Template&&) noexcept = default;

std::string Template::render(const ordered_json& data) const {
    std::string out;
    Evaluator(data).run(nodes_, data, out);
    return out;
}

std::string go_json(const ordered_json& value, int indent) {
    const std::string compact = value.dump(indent, ' ', false, ordered_json::error_handler_t::replace);
    std::string out;
    out.reserve(compact.size());
    // '<', '>' and '&' appear only inside strings in JSON text: escaping them everywhere is exact.
    for (char c : compact) {
        if (c == '<') out += "\\u003c";
        else if (c == '>') out += "\\u003e";
        else if (c == '&') out += "\\u0026";
        else out += c;
    }
    return out;
}

std::string tabulate(const std::vector<std::string>& lines) {
    constexpr std::size_t min_width = 10, padding = 3;
    std::vector<std::size_t> widths;
    const auto each_cell = [](std::string_view line, const auto& cell) {
        std::size_t column = 0, start = 0;
        for (auto tab = line.find('\t'); tab != std::string_view::npos; tab = line.find('\t', start)) {
            cell(column++, line.substr(start, tab - start));
            start = tab + 1;
        }
    };
    for (const auto& line : lines)
        each_cell(line, [&](std::size_t column, std::string_view cell) {
            if (widths.size() <= column) widths.resize(column + 1, min_width);
            widths[column] = std::max(widths[column], display_width(cell) + padding);
        });
    std::string out;
    for (const auto& line : lines) {
        each_cell(line, [&](std::size_t column, std::string_view cell) {
            out += cell;
            out.append(widths[column] - display_width(cell), ' ');
        });
        out += std::string_view(line).substr(line.rfind('\t') == std::string::npos ? 0 : line.rfind('\t') + 1);  // not aligned
        out += '\n';
    }
    return out;
}

RowPrinter::RowPrinter(std::string_view format, const ordered_json& headers, std::string_view default_table) {
    std::string chosen = trim(format);
    if (chosen.empty() || chosen == "table") chosen = default_table;
    if (chosen == "json") {
        mode_ = Mode::json;
        return;
    }
    const bool table = chosen.starts_with("table ") || chosen.starts_with("table\t");
    mode_ = table ? Mode::table : Mode::lines;
    template_.emplace(unescape_format(table ? trim(chosen.substr(6)) : chosen));
    if (table) lines_.push_back(template_->render(headers));
}

void RowPrinter::add(const ordered_json& row) {
    switch (mode_) {
    case Mode::json: out_ += go_json(row) + "\n"; break;
    case Mode::lines: out_ += template_->render(row) + "\n"; break;
    case Mode::table: lines_.push_back(template_->render(row)); break;
    }
}

std::string RowPrinter::finish() { return mode_ == Mode::table ? tabulate(lines_) : std::move(out_); }

std::string format_rows(std::string_view format, const std::vector<ordered_json>& rows, const ordered_json& headers,
                        std::string_view default_table) {
    RowPrinter printer(format, headers, default_table);
    for (const auto& row : rows) printer.add(row);
    return printer.finish();
}

std::optional<long long> parse_rfc3339(std::string_view text) {
    int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, consumed = 0;
    const std::string s(text);
    if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &year, &month, &day, &hour, &minute, &second, &consumed) != 6 ||
        consumed != 19)
        return std::nullopt;
    std::size_t i = 19;
    if (i < s.size() && s[i] == '.') {
        ++i;
        while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    }
    long long offset = 0;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
        int oh = 0, om = 0;
        if (std::sscanf(s.c_str() + i + 1, "%2d:%2d", &oh, &om) != 2) return std::nullopt;
        offset = (s[i] == '+' ? 1 : -1) * (oh * 3600LL + om * 60LL);
        i += 6;
    } else if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
        ++i;
    } else {
        return std::nullopt;
    }
    if (i != s.size()) return std::nullopt;
    std::tm tm{};
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    return static_cast<long long>(::timegm(&tm)) - offset;
}

std::string human_duration(long long seconds) {
    const auto plural = [](long long n, const char* unit) { return std::to_string(n) + " " + unit; };
    if (seconds < 1) return "Less than a second";
    if (seconds == 1) return "1 second";
    if (seconds < 60) return plural(seconds, "seconds");
    const long long minutes = seconds / 60;
    if (minutes == 1) return "About a minute";
    if (minutes < 60) return plural(minutes, "minutes");
    const long long hours = (seconds + 1800) / 3600;  // Go rounds hours
    if (hours == 1) return "About an hour";
    if (hours < 48) return plural(hours, "hours");
    if (hours < 24 * 7 * 2) return plural(hours / 24, "days");
    if (hours < 24 * 30 * 2) return plural(hours / 24 / 7, "weeks");
    if (hours < 24 * 365 * 2) return plural(hours / 24 / 30, "months");
    return plural(seconds / 3600 / 24 / 365, "years");
}

std::string time_since(std::string_view rfc3339, long long now) {
    const auto then = parse_rfc3339(rfc3339);
    if (!then) return "N/A";
    return human_duration(now - *then) + " ago";
}

static std::tm local_tm(long long seconds) {
    const std::time_t t = static_cast<std::time_t>(seconds);
    std::tm tm{};
    ::localtime_r(&t, &tm);
    return tm;
}

std::string go_time_string(long long seconds) {
    const std::tm tm = local_tm(seconds);
    char buf[64];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S %z %Z", &tm);
    return buf;
}

std::string local_rfc3339(long long seconds) {
    const std::tm tm = local_tm(seconds);
    char buf[64];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    std::string out = buf;
    if (tm.tm_gmtoff == 0) return out + "Z";
    const long off = tm.tm_gmtoff < 0 ? -tm.tm_gmtoff : tm.tm_gmtoff;
    std::snprintf(buf, sizeof buf, "%c%02ld:%02ld", tm.tm_gmtoff < 0 ? '-' : '+', off / 3600, off % 3600 / 60);
    return out + buf;
}

long long now_seconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string short_id(std::string_view digest, bool no_trunc) {
    if (no_trunc) return std::string(digest);
    const auto colon = digest.find(':');
    return std::string(digest.substr(colon == std::string_view::npos ? 0 : colon + 1, 12));
}

} // namespace strata::cli
