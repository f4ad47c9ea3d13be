// Shell-word expansion with the semantics of BuildKit's frontend/dockerfile/shell/lex.go:
// variables, the ${...} modifiers, quote removal, escapes and word splitting. It reads
// runes, as Go's text/scanner does, but copies each rune's bytes through unchanged.
#include "parser/buildfile.hpp"
#include "parser/node.hpp"
#include "parser/utf8.hpp"

#include <algorithm>
#include <optional>

namespace strata::parser {

namespace {

constexpr char32_t end_of_input = 0xFFFFFFFF;

struct Char {
    char32_t rune = end_of_input;
    std::string_view bytes;
};

// The result being built, and the same text split into words (BuildKit wordsStruct).
class Words {
public:
    void add_char(const Char& c) {
        if (utf8::is_space(c.rune)) {
            if (in_word_ && !word_.empty()) {
                words_.push_back(std::move(word_));
                word_.clear();
                in_word_ = false;
            }
        } else {
            add_raw(c.bytes);
        }
    }
    void add_raw(std::string_view bytes) {
        word_ += bytes;
        in_word_ = true;
    }
    // Text from an unquoted expansion is split like literal text.
    void add_split(std::string_view text) {
        for (std::size_t pos = 0; pos < text.size();) {
            const auto rune = utf8::decode(text, pos);
            add_char({rune.value, text.substr(pos, rune.width)});
            pos += rune.width;
        }
    }
    std::vector<std::string> take() {
        if (!word_.empty()) {
            words_.push_back(std::move(word_));
        }
        return std::move(words_);
    }

private:
    std::string word_;
    std::vector<std::string> words_;
    bool in_word_ = false;
};

struct Processed {
    std::string result;
    std::vector<std::string> words;
};

// ---- shell patterns for ${VAR#p} ${VAR%p} ${VAR/p/r}: * ? and escaped literals --------

struct PatternToken {
    enum { literal, any_char, any_string } type = literal;
    char32_t rune = 0;
};

std::vector<char32_t> runes_of(std::string_view text) {
    std::vector<char32_t> out;
    for (std::size_t pos = 0; pos < text.size();) {
        const auto rune = utf8::decode(text, pos);
        // Invalid bytes are kept distinct from each other and from real runes.
        out.push_back(rune.valid ? rune.value : 0x110000 + static_cast<unsigned char>(text[pos]));
        pos += rune.width;
    }
    return out;
}

std::string string_of(const std::vector<char32_t>& runes, std::size_t begin, std::size_t end) {
    std::string out;
    for (std::size_t i = begin; i < end; ++i) {
        if (runes[i] >= 0x110000) {
            out += static_cast<char>(runes[i] - 0x110000);
        } else {
            utf8::append(out, runes[i]);
        }
    }
    return out;
}

// Matching recurses once per `*`; more than this is refused rather than risking the stack.
constexpr std::size_t max_pattern_stars = 256;

std::vector<PatternToken> compile_pattern(std::string_view pattern) {
    const auto runes = runes_of(pattern);
    std::vector<PatternToken> tokens;
    std::size_t stars = 0;
    for (std::size_t i = 0; i < runes.size(); ++i) {
        const char32_t c = runes[i];
        if (c == '*') {
            if (!tokens.empty() && tokens.back().type == PatternToken::any_string) {
                continue;  // ** matches what * matches
            }
            if (++stars > max_pattern_stars) {
                throw Error("invalid pattern in substitution: more than 256 '*'");
            }
            tokens.push_back({PatternToken::any_string, 0});
        } else if (c == '?') {
            tokens.push_back({PatternToken::any_char, 0});
        } else if (c == '\\') {
            const char32_t escaped = i + 1 < runes.size() ? runes[i + 1] : end_of_input;
            if (escaped == '}' || escaped == '/') {
                continue;  // the escape belonged to ${...} syntax, not to the pattern
            }
            if (escaped != '*' && escaped != '?' && escaped != '\\') {
                throw Error("invalid pattern (" + std::string(pattern) + ") in substitution: invalid escape");
            }
            tokens.push_back({PatternToken::literal, escaped});
            ++i;
        } else {
            tokens.push_back({PatternToken::literal, c});
        }
    }
    return tokens;
}

// Backtracking match of a pattern against value[v..], trying longer or shorter expansions
// of * first (greedy or lazy), as a regex engine with .* or .*? would; returns the end of
// the match. Failed (token, position) pairs are remembered, so time stays O(tokens * value).
class Matcher {
public:
    Matcher(const std::vector<PatternToken>& tokens, const std::vector<char32_t>& value, bool greedy)
        : tokens_(tokens), value_(value), greedy_(greedy), failed_((tokens.size() + 1) * (value.size() + 1)) {}

    std::optional<std::size_t> match(std::size_t t, std::size_t v) {
        const std::size_t start_t = t, start_v = v;
        if (failed_[index(t, v)]) {
            return std::nullopt;
        }
        for (; t < tokens_.size() && tokens_[t].type != PatternToken::any_string; ++t, ++v) {
            if (v == value_.size() || (tokens_[t].type == PatternToken::literal && tokens_[t].rune != value_[v])) {
                return fail(start_t, start_v);
            }
        }
        if (t == tokens_.size()) {
            return v;
        }
        const std::size_t room = value_.size() - v;
        for (std::size_t n = 0; n <= room; ++n) {
            if (auto end = match(t + 1, v + (greedy_ ? room - n : n))) {
                return end;
            }
        }
        return fail(start_t, start_v);
    }

private:
    std::size_t index(std::size_t t, std::size_t v) const { return t * (value_.size() + 1) + v; }
    std::optional<std::size_t> fail(std::size_t t, std::size_t v) {
        failed_[index(t, v)] = true;
        return std::nullopt;
    }

    const std::vector<PatternToken>& tokens_;
    const std::vector<char32_t>& value_;
    bool greedy_;
    std::vector<bool> failed_;
};

std::optional<std::size_t> match_at(const std::vector<PatternToken>& tokens, std::size_t t,
                                    const std::vector<char32_t>& value, std::size_t v, bool greedy) {
    return Matcher(tokens, value, greedy).match(t, v);
}

std::string trim_prefix(std::vector<PatternToken> tokens, std::vector<char32_t> value, bool greedy) {
    const auto end = match_at(tokens, 0, value, 0, greedy);
    return string_of(value, end.value_or(0), value.size());
}

// The shortest/longest suffix is the shortest/longest prefix of the reversed value.
std::string trim_suffix(std::vector<PatternToken> tokens, std::vector<char32_t> value, bool greedy) {
    std::reverse(tokens.begin(), tokens.end());
    std::reverse(value.begin(), value.end());
    auto rest = runes_of(trim_prefix(tokens, value, greedy));
    std::reverse(rest.begin(), rest.end());
    return string_of(rest, 0, rest.size());
}

std::string replace(const std::vector<PatternToken>& tokens, const std::vector<char32_t>& value,
                    std::string_view replacement, bool all) {
    std::string out;
    std::size_t pos = 0;
    std::optional<std::size_t> previous_end;
    Matcher matcher(tokens, value, true);
    while (pos <= value.size()) {
        const auto end = matcher.match(0, pos);
        // As in Go, an empty match right after a previous match does not count.
        const bool counts = end && !(*end == pos && previous_end == pos);
        if (counts) {
            out += replacement;
            previous_end = *end;
            if (!all) {
                return out + string_of(value, *end, value.size());
            }
        }
        if (counts && *end > pos) {
            pos = *end;
        } else {
            if (pos < value.size()) {
                out += string_of(value, pos, pos + 1);
            }
            ++pos;
        }
    }
    return out;
}

class Lexer {
public:
    Lexer(std::string_view source, const Environment& env, char escape)
        : source_(source), env_(env), escape_(static_cast<unsigned char>(escape)) {}

    Processed process() {
        try {
            return process_stop_on(end_of_input, false);
        } catch (const Error& e) {
            throw Error("failed to process " + go_quote(source_) + ": " + e.message());
        }
    }

private:
    Char peek() const {
        if (pos_ >= source_.size()) {
            return {};
        }
        const auto rune = utf8::decode(source_, pos_);
        return {rune.value, source_.substr(pos_, rune.width)};
    }
    Char next() {
        const Char c = peek();
        pos_ += c.bytes.size();
        return c;
    }

    Processed process_stop_on(char32_t stop, bool raw_escapes) {
        // Like BuildKit, the raw-escapes mode also applies to quotes nested in this word.
        const bool outer_raw_escapes = raw_escapes_;
        raw_escapes_ = raw_escapes;
        struct Restore {
            bool& flag;
            bool value;
            ~Restore() { flag = value; }
        } restore{raw_escapes_, outer_raw_escapes};
        std::string result;
        Words words;
        while (peek().rune != end_of_input) {
            const char32_t ch = peek().rune;
            if (stop != end_of_input && ch == stop) {
                next();
                return {std::move(result), words.take()};
            }
            if (ch == '$' || ch == '\'' || ch == '"') {
                const std::string text = ch == '$' ? process_dollar() : ch == '\'' ? single_quoted() : double_quoted();
                result += text;
                if (ch == '$') {
                    words.add_split(text);
                } else {
                    words.add_raw(text);
                }
                continue;
            }
            Char c = next();
            if (c.rune == escape_) {
                if (raw_escapes) {
                    words.add_raw(c.bytes);
                    result += c.bytes;
                }
                c = next();
                if (c.rune == end_of_input) {
                    break;  // an escape at the end is dropped
                }
                words.add_raw(c.bytes);
            } else {
                words.add_char(c);
            }
            result += c.bytes;
        }
        if (stop != end_of_input) {
            std::string wanted;
            utf8::append(wanted, stop);
            throw Error("unexpected end of statement while looking for matching " + wanted);
        }
        return {std::move(result), words.take()};
    }

    // Nothing is special between single quotes.
    std::string single_quoted() {
        next();
        std::string result;
        for (Char c = next(); c.rune != '\''; c = next()) {
            if (c.rune == end_of_input) {
                throw Error("unexpected end of statement while looking for matching single-quote");
            }
            result += c.bytes;
        }
        return result;
    }

    // Between double quotes, $ expands and the escape only escapes ", $ and itself.
    std::string double_quoted() {
        next();
        std::string result;
        while (true) {
            const char32_t ch = peek().rune;
            if (ch == end_of_input) {
                throw Error("unexpected end of statement while looking for matching double-quote");
            }
            if (ch == '"') {
                next();
                return result;
            }
            if (ch == '$') {
                result += process_dollar();
                continue;
            }
            Char c = next();
            if (c.rune == escape_) {
                if (raw_escapes_) {
                    result += c.bytes;
                }
                const char32_t after = peek().rune;
                if (after == end_of_input) {
                    continue;
                }
                if (after == '"' || after == '$' || after == escape_) {
                    c = next();
                }
            }
            result += c.bytes;
        }
    }

    static bool is_special_parameter(char32_t c) {
        return c == '@' || c == '*' || c == '#' || c == '?' || c == '-' || c == '$' || c == '!' || c == '0';
    }

    // A name, a run of digits (positional parameter), or one special parameter.
    std::string process_name() {
        std::string name;
        if (utf8::is_digit(peek().rune)) {
            while (utf8::is_digit(peek().rune)) {
                name += next().bytes;
            }
            return name;
        }
        if (is_special_parameter(peek().rune)) {
            return std::string(next().bytes);
        }
        for (char32_t c = peek().rune; utf8::is_letter(c) || utf8::is_digit(c) || c == '_'; c = peek().rune) {
            name += next().bytes;
        }
        return name;
    }

    std::optional<std::string> lookup(const std::string& name) const {
        const auto found = env_.find(name);
        if (found == env_.end()) {
            return std::nullopt;
        }
        return found->second;
    }

    std::string process_dollar() {
        next();
        if (peek().rune != '{') {
            const auto name = process_name();
            return name.empty() ? "$" : lookup(name).value_or("");
        }
        next();
        if (++nesting_ > max_nesting) {
            throw Error("syntax error: ${...} nested more than 100 deep");
        }
        struct Leave {
            int& depth;
            ~Leave() { --depth; }
        } leave{nesting_};
        const char32_t first = peek().rune;
        if (first == end_of_input) {
            throw Error("syntax error: missing '}'");
        }
        if (first == '{' || first == '}' || first == ':') {
            throw Error("syntax error: bad substitution");
        }
        const auto name = process_name();
        Char modifier = next();
        if (modifier.rune == end_of_input) {
            throw Error("syntax error: missing '}'");
        }
        if (modifier.rune == '}') {
            return lookup(name).value_or("");
        }
        if (modifier.rune == '/') {
            return substitute(name);
        }
        std::string modifier_text(modifier.bytes);
        const bool null_is_unset = modifier.rune == ':';
        if (null_is_unset) {
            modifier = next();
            modifier_text += modifier.bytes;
        }
        const char32_t op = modifier.rune;
        if (op != '-' && op != '+' && op != '?' && op != '#' && op != '%') {
            if (!null_is_unset) {
                throw Error("unsupported modifier (" + modifier_text + ") in substitution");
            }
        }
        auto word = argument_until('}', op == '#' || op == '%', "syntax error: missing '}'");
        return apply_modifier(name, op, null_is_unset, std::move(word), modifier_text);
    }

    std::string argument_until(char32_t stop, bool raw_escapes, const char* missing) {
        try {
            return process_stop_on(stop, raw_escapes).result;
        } catch (const Error&) {
            if (peek().rune == end_of_input) {
                throw Error(missing);
            }
            throw;
        }
    }

    std::string apply_modifier(const std::string& name, char32_t op, bool null_is_unset, std::string word,
                               const std::string& modifier_text) const {
        const auto value = lookup(name);
        const bool missing = !value || (null_is_unset && value->empty());
        switch (op) {
        case '-':
            return missing ? word : *value;
        case '+':
            return missing ? "" : word;
        case '?':
            if (!value) {
                throw Error(name + ": " + (word.empty() ? "is not allowed to be unset" : word));
            }
            if (missing) {
                throw Error(name + ": " + (word.empty() ? "is not allowed to be empty" : word));
            }
            return *value;
        case '#':
        case '%': {
            const bool greedy = !word.empty() && static_cast<char32_t>(word.front()) == op;
            const auto tokens = compile_pattern(greedy ? std::string_view(word).substr(1) : std::string_view(word));
            const auto runes = runes_of(value.value_or(""));
            return op == '%' ? trim_suffix(tokens, runes, greedy) : trim_prefix(tokens, runes, greedy);
        }
        default:
            throw Error("unsupported modifier (" + modifier_text + ") in substitution");
        }
    }

    // ${VAR/pattern/replacement} and ${VAR//pattern/replacement} (all matches).
    std::string substitute(const std::string& name) {
        const bool all = peek().rune == '/';
        if (all) {
            next();
        }
        const auto pattern = argument_until('/', true, "syntax error: missing '/' in ${}");
        const auto replacement = argument_until('}', true, "syntax error: missing '}'");
        const auto tokens = compile_pattern(pattern);
        return replace(tokens, runes_of(lookup(name).value_or("")), replacement, all);
    }

    std::string_view source_;
    const Environment& env_;
    std::size_t pos_ = 0;
    char32_t escape_;
    bool raw_escapes_ = false;
    int nesting_ = 0;  // of ${...}, bounded so hostile input cannot exhaust the stack
    static constexpr int max_nesting = 100;
};

} // namespace

std::string expand_word(std::string_view word, const Environment& env, char escape) {
    return Lexer(word, env, escape).process().result;
}

std::vector<std::string> expand_words(std::string_view word, const Environment& env, char escape) {
    return Lexer(word, env, escape).process().words;
}

} // namespace strata::parser
