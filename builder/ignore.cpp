// .dockerignore semantics, written from the behaviour described in
// shared/conformance/dockerignore/README.md (moby/patternmatcher v0.6.1, ignorefile.ReadAll).
//
// Docker turns each pattern into a Go regexp. We compile it instead into a short list of
// match steps and run them as a set-of-positions automaton: time is bounded by path length
// times pattern length, so patterns full of `*` cannot make matching blow up. Where Docker's regexp translation
// gives a pattern a meaning other than the glob one, we follow Docker: `**/` may match no
// directory at all, `.*` in the translation does not cross '\n', `^` outside a class anchors
// at the start, and a class range written backwards (`[l-O]`) is an error found only when
// the pattern is used.
//
// Known differences from Docker, all in patterns whose Docker meaning is accidental: `*` and
// `?` inside a class are literal here (Docker's translation nests a class there); escaping a
// letter, digit or non-ASCII character (`\d`, `\n`) is an error here, where Docker's regexp
// gives it a regexp meaning or fails; `[[:alpha:]]` is not a POSIX class here; invalid UTF-8
// in a glob pattern is compared byte for byte.
#include "builder/ignore.hpp"

#include "util/error.hpp"
#include "util/fs.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <utility>

namespace strata::builder {

namespace ignore_impl {

// One step of a compiled pattern; each mirrors a piece of Docker's regexp translation.
enum class Step {
    literal,         // the bytes in `literal`
    one_rune,        // `?`:  [^/]
    runes_no_slash,  // `*`:  [^/]*
    dirs,            // `**` or `**/` inside a pattern: (.*/)?
    anything,        // `**` ending a pattern: .*
    text_start,      // `^` outside a class: a regexp anchor, so only at position 0
    char_class,      // [...] / [^...]
};

struct Token {
    Step step = Step::literal;
    std::string literal;
    bool negated = false;
    std::vector<std::pair<char32_t, char32_t>> ranges;
};

} // namespace ignore_impl

using ignore_impl::Step;
using ignore_impl::Token;

struct IgnoreMatcher::Pattern {
    // Docker sorts patterns into these kinds; only `glob` uses the compiled tokens.
    enum class Kind {
        exact,   // no special characters: string equality
        prefix,  // literal text, then a final `**`: starts-with
        suffix,  // a leading `**`, then literal text: ends-with (and `**/x` also matches "x")
        glob,
    };

    std::string source;  // as written, for error messages
    std::string text;    // cleaned, without the leading '!'
    bool exclusion = false;
    Kind kind = Kind::exact;
    std::vector<Token> tokens;
    std::string deferred_error;  // non-empty: Docker's regexp would not compile

    bool matches(std::string_view path) const;
    bool may_match_below(std::string_view dir_slash) const;
};

namespace {

constexpr char32_t replacement_char = 0xFFFD;
// bufio.Scanner's limit: a longer line makes Docker reject the whole file.
constexpr std::size_t max_ignore_line = 64 * 1024;

struct Rune {
    char32_t value;
    std::size_t size;
};

// Decodes the UTF-8 sequence at s[pos]. Invalid or truncated input reads as U+FFFD, one byte
// wide, which is how Go (and so Docker's regexps) walks a string.
Rune decode_rune(std::string_view s, std::size_t pos) {
    const auto lead = static_cast<unsigned char>(s[pos]);
    if (lead < 0x80) return {lead, 1};
    std::size_t size = 0;
    char32_t value = 0;
    char32_t smallest = 0;
    if (lead >= 0xC2 && lead <= 0xDF) {
        size = 2, value = lead & 0x1F, smallest = 0x80;
    } else if ((lead & 0xF0) == 0xE0) {
        size = 3, value = lead & 0x0F, smallest = 0x800;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        size = 4, value = lead & 0x07, smallest = 0x10000;
    } else {
        return {replacement_char, 1};
    }
    if (pos + size > s.size()) return {replacement_char, 1};
    for (std::size_t i = 1; i < size; ++i) {
        const auto c = static_cast<unsigned char>(s[pos + i]);
        if ((c & 0xC0) != 0x80) return {replacement_char, 1};
        value = (value << 6) | (c & 0x3F);
    }
    const bool surrogate = value >= 0xD800 && value <= 0xDFFF;
    if (value < smallest || value > 0x10FFFF || surrogate) return {replacement_char, 1};
    return {value, size};
}

// Go's unicode.IsSpace, which strings.TrimSpace uses.
bool is_space(char32_t r) {
    switch (r) {
    case '\t': case '\n': case '\v': case '\f': case '\r': case ' ':
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F:
    case 0x3000:
        return true;
    default:
        return r >= 0x2000 && r <= 0x200A;
    }
}

std::string_view trim_space(std::string_view s) {
    std::size_t begin = 0;
    while (begin < s.size()) {
        const Rune r = decode_rune(s, begin);
        if (!is_space(r.value)) break;
        begin += r.size;
    }
    std::size_t end = begin;
    for (std::size_t pos = begin; pos < s.size();) {
        const Rune r = decode_rune(s, pos);
        pos += r.size;
        if (!is_space(r.value)) end = pos;
    }
    return s.substr(begin, end - begin);
}

// Go's filepath.Clean on Unix: "a//b/./c/" -> "a/b/c", "a/../.." -> "..", "/.." -> "/", "" -> ".".
std::string clean_path(std::string_view path) {
    if (path.empty()) return ".";
    const bool rooted = path[0] == '/';
    std::string out = rooted ? "/" : "";
    // `out` never shrinks below this length: the root, or leading ".." elements kept.
    std::size_t floor = out.size();
    std::size_t r = 0;
    while (r < path.size()) {
        const std::size_t slash = path.find('/', r);
        const std::string_view element =
            path.substr(r, slash == std::string_view::npos ? std::string_view::npos : slash - r);
        r = slash == std::string_view::npos ? path.size() : slash + 1;
        if (element.empty() || element == ".") continue;
        if (element == "..") {
            if (out.size() > floor) {
                const std::size_t cut = out.rfind('/');
                out.resize(cut == std::string::npos || cut < floor ? floor : cut);
            } else if (!rooted) {
                out += out.empty() ? ".." : "/..";
                floor = out.size();
            }
            continue;
        }
        if (out.size() > (rooted ? 1u : 0u)) out += '/';
        out += element;
    }
    return out.empty() ? "." : out;
}

// Go's filepath.Dir: everything before the last '/', cleaned; "." when there is no '/'.
std::string parent_dir(std::string_view path) {
    const std::size_t slash = path.rfind('/');
    return clean_path(slash == std::string_view::npos ? std::string_view{} : path.substr(0, slash + 1));
}

// "a/b/c" -> "a", "a/b", "a/b/c"; "/x" -> "", "/x" (Docker splits on '/' and rejoins).
std::vector<std::string_view> prefixes_of(std::string_view dir) {
    std::vector<std::string_view> out;
    for (std::size_t slash = dir.find('/'); slash != std::string_view::npos; slash = dir.find('/', slash + 1))
        out.push_back(dir.substr(0, slash));
    out.push_back(dir);
    return out;
}

bool is_ascii_alnum(char32_t c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// A Go regexp keeps an escaped ASCII non-alphanumeric as itself; other escapes (\d, \n, \q,
// \é ...) mean something else or fail to compile, so we report them instead of guessing.
bool escape_is_literal(char32_t c) { return c < 0x80 && !is_ascii_alnum(c); }

std::string encode_rune(char32_t c) {
    std::string out;
    if (c < 0x80) {
        out += static_cast<char>(c);
    } else if (c < 0x800) {
        out += static_cast<char>(0xC0 | (c >> 6));
        out += static_cast<char>(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        out += static_cast<char>(0xE0 | (c >> 12));
        out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (c & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (c >> 18));
        out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (c & 0x3F));
    }
    return out;
}

// Turns a cleaned pattern into its kind and steps. Throws for what Go's filepath.Match calls a
// syntax error (Docker rejects those when the matcher is built); records in deferred_error
// what only Docker's regexp compiler rejects (Docker reports those when matching).
class PatternCompiler {
public:
    explicit PatternCompiler(IgnoreMatcher::Pattern& pattern) : p_(pattern), text_(pattern.text) {}

    void run() {
        while (pos_ < text_.size()) {
            const std::size_t start = pos_;
            const Rune r = decode_rune(text_, pos_);
            pos_ += r.size;
            switch (r.value) {
            case '*': star(start == 0); break;
            case '?': push(Step::one_rune), set_glob(); break;
            case '\\': escape(); break;
            case '[': char_class(), set_glob(); break;
            case ']': add_literal("]"), set_glob(); break;
            case '^': push(Step::text_start); break;  // matters only if the pattern is a glob
            default: add_literal(text_.substr(start, r.size));
            }
        }
    }

private:
    using Kind = IgnoreMatcher::Pattern::Kind;

    [[noreturn]] static void syntax_error() { throw Error("syntax error in pattern"); }

    bool at(char c) const { return pos_ < text_.size() && text_[pos_] == c; }
    void set_glob() { p_.kind = Kind::glob; }
    void push(Token token) { p_.tokens.push_back(std::move(token)); }
    void push(Step step) {
        Token token;
        token.step = step;
        push(std::move(token));
    }
    void defer(std::string message) {
        if (p_.deferred_error.empty()) p_.deferred_error = std::move(message);
    }
    void add_literal(std::string_view bytes) {
        if (p_.tokens.empty() || p_.tokens.back().step != Step::literal) push(Step::literal);
        p_.tokens.back().literal += bytes;
    }

    void star(bool at_pattern_start) {
        if (!at('*')) {
            push(Step::runes_no_slash), set_glob();
            return;
        }
        ++pos_;
        if (at('/')) ++pos_;  // `**/` is read as `**`
        if (pos_ == text_.size()) {
            if (p_.kind == Kind::exact) p_.kind = Kind::prefix;
            else push(Step::anything), set_glob();
        } else {
            push(Step::dirs), set_glob();
        }
        if (at_pattern_start) p_.kind = Kind::suffix;  // later wildcards turn it back into a glob
    }

    void escape() {
        if (pos_ == text_.size()) syntax_error();  // a trailing lone backslash
        const Rune r = decode_rune(text_, pos_);
        pos_ += r.size;
        set_glob();
        if (!escape_is_literal(r.value)) defer("escape '\\" + encode_rune(r.value) + "' is not supported");
        add_literal(encode_rune(r.value));
    }

    void char_class() {
        Token token;
        token.step = Step::char_class;
        if (at('^')) token.negated = true, ++pos_;
        while (!(at(']') && !token.ranges.empty())) {
            const char32_t lo = class_char();
            char32_t hi = lo;
            if (at('-')) ++pos_, hi = class_char();
            if (lo > hi)
                defer("character class range '" + encode_rune(lo) + "-" + encode_rune(hi) + "' is reversed");
            token.ranges.emplace_back(lo, hi);
        }
        ++pos_;  // the closing ']'
        push(std::move(token));
    }

    // One class member or range end: not '-' or ']' unless escaped, and never the last byte
    // of the pattern (the class would be unterminated).
    char32_t class_char() {
        if (pos_ >= text_.size() || at('-') || at(']')) syntax_error();
        const bool escaped = at('\\');
        if (escaped && ++pos_ >= text_.size()) syntax_error();
        const Rune r = decode_rune(text_, pos_);
        if (r.value == replacement_char && r.size == 1) syntax_error();
        pos_ += r.size;
        if (pos_ >= text_.size()) syntax_error();
        if (escaped && !escape_is_literal(r.value))
            defer("escape '\\" + encode_rune(r.value) + "' is not supported");
        return r.value;
    }

    IgnoreMatcher::Pattern& p_;
    std::string_view text_;
    std::size_t pos_ = 0;
};

// reach[i] != 0: the steps so far can match path[0, i).
using Reach = std::vector<char>;

bool step_accepts_rune(const Token& token, char32_t c) {
    if (token.step == Step::one_rune) return c != '/';
    bool in_class = false;
    for (const auto& [lo, hi] : token.ranges) in_class = in_class || (lo <= c && c <= hi);
    return in_class != token.negated;
}

Reach advance(const Token& token, std::string_view s, const Reach& reach) {
    const std::size_t n = s.size();
    Reach next(n + 1, 0);
    bool open = false;  // for `.*`: some reached position with no '\n' since
    for (std::size_t i = 0; i <= n; ++i) {
        switch (token.step) {
        case Step::literal:
            if (reach[i] && s.substr(i).starts_with(token.literal)) next[i + token.literal.size()] = 1;
            break;
        case Step::one_rune:
        case Step::char_class:
            if (reach[i] && i < n) {
                const Rune r = decode_rune(s, i);
                if (step_accepts_rune(token, r.value)) next[i + r.size] = 1;
            }
            break;
        case Step::runes_no_slash:
            next[i] = next[i] || reach[i];
            if (next[i] && i < n && s[i] != '/') next[i + decode_rune(s, i).size] = 1;
            break;
        case Step::dirs:  // (.*/)? : stay, or skip to just after any '/' reachable without '\n'
            next[i] = next[i] || reach[i];
            open = open || reach[i];
            if (i < n && s[i] == '\n') open = false;
            if (i < n && s[i] == '/' && open) next[i + 1] = 1;
            break;
        case Step::anything:
            open = open || reach[i];
            next[i] = open;
            if (i < n && s[i] == '\n') open = false;
            break;
        case Step::text_start:
            next[i] = reach[i] && i == 0;
            break;
        }
    }
    return next;
}

bool none_reached(const Reach& reach) {
    for (char r : reach)
        if (r) return false;
    return true;
}

bool glob_matches(const std::vector<Token>& tokens, std::string_view s) {
    Reach reach(s.size() + 1, 0);
    reach[0] = 1;
    for (const auto& token : tokens) {
        reach = advance(token, s, reach);
        if (none_reached(reach)) return false;
    }
    return reach[s.size()];
}

// Whether `literal`, started at some reached position, matches all the rest of `s` and goes on.
bool literal_runs_past(std::string_view literal, std::string_view s, const Reach& reach) {
    for (std::size_t i = 0; i < s.size(); ++i)
        if (reach[i] && s.size() - i < literal.size() && literal.starts_with(s.substr(i))) return true;
    return false;
}

// Whether the steps can consume all of `prefix` with steps still to spare or exactly at the
// end, i.e. whether some path starting with `prefix` might match.
bool glob_may_extend(const std::vector<Token>& tokens, std::string_view prefix) {
    Reach reach(prefix.size() + 1, 0);
    reach[0] = 1;
    for (const auto& token : tokens) {
        if (reach[prefix.size()]) return true;
        if (token.step == Step::literal && literal_runs_past(token.literal, prefix, reach)) return true;
        reach = advance(token, prefix, reach);
        if (none_reached(reach)) return false;
    }
    return reach[prefix.size()];
}

std::string bad_pattern_context(std::string_view source) {
    return "bad .dockerignore pattern '" + std::string(source) + "'";
}

// True when `path` exists (following symlinks); "no such file" is not an error.
bool file_present(const fs::path& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) return true;
    if (errno == ENOENT || errno == ENOTDIR) return false;
    throw_errno("stat", path.string());
}

} // namespace

bool IgnoreMatcher::Pattern::matches(std::string_view path) const {
    if (!deferred_error.empty()) throw Error(bad_pattern_context(source) + ": " + deferred_error);
    switch (kind) {
    case Kind::exact:
        return path == text;
    case Kind::prefix:
        return path.starts_with(std::string_view(text).substr(0, text.size() - 2));
    case Kind::suffix: {
        const std::string_view suffix = std::string_view(text).substr(2);
        return path.ends_with(suffix) || (suffix.starts_with('/') && path == suffix.substr(1));
    }
    case Kind::glob:
        return glob_matches(tokens, path);
    }
    return false;
}

bool IgnoreMatcher::Pattern::may_match_below(std::string_view dir_slash) const {
    if (!deferred_error.empty()) return true;  // let matches() report it
    switch (kind) {
    case Kind::exact:
        return std::string_view(text).starts_with(dir_slash);
    case Kind::prefix: {
        const std::string_view head = std::string_view(text).substr(0, text.size() - 2);
        return head.starts_with(dir_slash) || dir_slash.starts_with(head);
    }
    case Kind::suffix:
        return true;
    case Kind::glob:
        return glob_may_extend(tokens, dir_slash);
    }
    return true;
}

std::vector<std::string> read_ignore_file(std::string_view text) {
    std::vector<std::string> patterns;
    for (std::size_t line_number = 1; !text.empty(); ++line_number) {
        const std::size_t newline = text.find('\n');
        std::string_view line = text.substr(0, newline);
        text = newline == std::string_view::npos ? std::string_view{} : text.substr(newline + 1);
        if (line.size() >= max_ignore_line)
            throw Error("reading .dockerignore: line " + std::to_string(line_number) + " is longer than " +
                        std::to_string(max_ignore_line - 1) + " bytes");
        if (line.ends_with('\r')) line.remove_suffix(1);
        if (line_number == 1 && line.starts_with("\xEF\xBB\xBF")) line.remove_prefix(3);
        if (line.starts_with('#')) continue;  // only in column 1: "  # x" is a pattern
        std::string_view pattern = trim_space(line);
        if (pattern.empty()) continue;
        const bool exclusion = pattern.front() == '!';
        if (exclusion) pattern = trim_space(pattern.substr(1));
        std::string cleaned;
        if (!pattern.empty()) {
            cleaned = clean_path(pattern);
            if (cleaned.size() > 1 && cleaned.front() == '/') cleaned.erase(0, 1);
        }
        patterns.push_back(exclusion ? "!" + cleaned : cleaned);
    }
    return patterns;
}

IgnoreMatcher::IgnoreMatcher() = default;
IgnoreMatcher::IgnoreMatcher(const IgnoreMatcher&) = default;
IgnoreMatcher::IgnoreMatcher(IgnoreMatcher&&) noexcept = default;
IgnoreMatcher& IgnoreMatcher::operator=(const IgnoreMatcher&) = default;
IgnoreMatcher& IgnoreMatcher::operator=(IgnoreMatcher&&) noexcept = default;
IgnoreMatcher::~IgnoreMatcher() = default;

IgnoreMatcher::IgnoreMatcher(std::vector<std::string> patterns) {
    for (auto& source : patterns) {
        const std::string_view trimmed = trim_space(source);
        if (trimmed.empty()) continue;
        Pattern pattern;
        pattern.text = clean_path(trimmed);  // before '!' is split off, as Docker does
        if (pattern.text.front() == '!') {
            if (pattern.text.size() == 1)
                throw Error(bad_pattern_context(source) + ": an exclusion needs a pattern after '!'");
            pattern.exclusion = true;
            pattern.text.erase(0, 1);
        }
        pattern.source = std::move(source);
        with_context(bad_pattern_context(pattern.source), [&] { PatternCompiler(pattern).run(); });
        patterns_.push_back(std::move(pattern));
    }
}

bool IgnoreMatcher::matches(std::string_view relative_path) const {
    const std::string parent = parent_dir(relative_path);
    const auto ancestors = parent == "." ? std::vector<std::string_view>{} : prefixes_of(parent);
    bool matched = false;
    for (const auto& pattern : patterns_) {
        // Once matched, only exceptions can change the answer; before that, only inclusions.
        if (pattern.exclusion != matched) continue;
        bool hit = pattern.matches(relative_path);
        for (std::size_t i = 0; !hit && i < ancestors.size(); ++i) hit = pattern.matches(ancestors[i]);
        if (hit) matched = !pattern.exclusion;
    }
    return matched;
}

// Sound because every pattern that hits a directory also hits everything below it: once a
// directory is excluded, only an exception that can hit a path below it (and not the
// directory itself) can bring that path back.
bool IgnoreMatcher::may_match_inside(std::string_view dir) const {
    while (dir.ends_with('/')) dir.remove_suffix(1);
    const bool whole_context = dir.empty() || dir == ".";
    const std::string dir_slash = std::string(dir) + "/";
    for (const auto& pattern : patterns_) {
        if (pattern.exclusion && (whole_context || pattern.may_match_below(dir_slash))) return true;
    }
    return false;
}

bool IgnoreMatcher::empty() const noexcept { return patterns_.empty(); }

bool IgnoreMatcher::has_exclusions() const noexcept {
    for (const auto& pattern : patterns_)
        if (pattern.exclusion) return true;
    return false;
}

IgnoreMatcher load_context_ignore(const fs::path& context_dir, const fs::path& buildfile_path) {
    std::vector<fs::path> candidates;
    if (!buildfile_path.empty()) candidates.push_back(fs::path(buildfile_path) += ".dockerignore");
    candidates.push_back(context_dir / ".dockerignore");
    for (const auto& candidate : candidates) {
        if (!file_present(candidate)) continue;
        return with_context("reading '" + candidate.string() + "'",
                            [&] { return IgnoreMatcher(read_ignore_file(read_file(candidate))); });
    }
    return IgnoreMatcher{};
}

} // namespace strata::builder
