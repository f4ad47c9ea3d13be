// Heredoc words (`<<EOF`, `<<-'EOF'`, `3<<"EOF"`) and the `# syntax=` gate for them.
// BuildKit decides "quoted, so do not expand" by lexing the delimiter with and without
// raw quotes and comparing; here one scan records whether a quote ever quoted.
#include "parser/heredoc.hpp"

#include "parser/text.hpp"

#include <cctype>

namespace strata::parser {

namespace {

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f' || c == '\n'; }

struct DelimiterWord {
    std::string text;       // quotes removed, escapes resolved
    bool quoted = false;    // some quote character acted as a quote
    int words = 0;          // how many shell words the delimiter text holds
};

// Lexes the delimiter after `<<` like a shell word list, with backslash as escape.
DelimiterWord lex_delimiter(std::string_view rest) {
    DelimiterWord out;
    bool in_word = false;
    const auto start_word = [&] {
        if (!in_word) {
            in_word = true;
            ++out.words;
        }
    };
    for (std::size_t i = 0; i < rest.size(); ++i) {
        const char c = rest[i];
        if (is_blank(c)) {
            in_word = false;
            continue;
        }
        start_word();
        if (c == '\\') {
            if (i + 1 < rest.size()) {
                out.text += rest[++i];
            }
        } else if (c == '\'' || c == '"') {
            std::size_t j = i + 1;
            for (; j < rest.size() && rest[j] != c; ++j) {
                // Inside double quotes the escape only protects ", $ and itself (BuildKit's lexer).
                if (c == '"' && rest[j] == '\\' && j + 1 < rest.size() &&
                    std::string_view("\"$\\").find(rest[j + 1]) != std::string_view::npos) {
                    ++j;
                }
                out.text += rest[j];
            }
            if (j >= rest.size()) {
                throw Error("unterminated quote in heredoc delimiter: " + std::string(rest));
            }
            out.quoted = true;
            i = j;
        } else {
            out.text += c;
        }
    }
    return out;
}

// Calls on_word for each shell word of the line, quotes and escapes kept as written; `<<`
// takes the blanks after it into its word. Returns false on unbalanced quotes (BuildKit's
// lexer fails then, and the line opens no heredoc).
template <typename OnWord>
bool for_each_raw_word(std::string_view line, OnWord&& on_word) {
    std::string word;
    bool in_word = false;
    const auto finish = [&] {
        if (in_word) {
            on_word(word);
            word.clear();
            in_word = false;
        }
    };
    for (std::size_t i = 0; i < line.size(); ++i) {
        const char c = line[i];
        if (is_blank(c)) {
            finish();
            continue;
        }
        in_word = true;
        if (c == '\\' && i + 1 < line.size()) {
            word += line.substr(i, 2);
            ++i;
        } else if (c == '\'' || c == '"') {
            std::size_t close = i + 1;
            while (close < line.size() && line[close] != c) {
                close += (c == '"' && line[close] == '\\') ? 2 : 1;
            }
            if (close >= line.size()) {
                return false;
            }
            word += line.substr(i, close - i + 1);
            i = close;
        } else if (c == '<' && i + 1 < line.size() && line[i + 1] == '<') {
            word += "<<";
            ++i;
            while (i + 1 < line.size() && is_blank(line[i + 1])) {
                word += line[++i];
            }
        } else {
            word += c;
        }
    }
    finish();
    return true;
}

} // namespace

std::string Heredoc::data() const {
    if (!chomp) {
        return content;
    }
    std::string out;
    bool line_start = true;
    for (const char c : content) {
        if (line_start && c == '\t') {
            continue;
        }
        line_start = c == '\n';
        out += c;
    }
    return out;
}

// The shape BuildKit matches: ^(\d*)<<(-?)\s*([^<]*)$, the rest being exactly one word.
std::optional<Heredoc> heredoc_word(std::string_view word) {
    std::size_t pos = 0;
    while (pos < word.size() && std::isdigit(static_cast<unsigned char>(word[pos]))) {
        ++pos;
    }
    const auto digits = word.substr(0, pos);
    if (word.substr(pos, 2) != "<<") {
        return std::nullopt;
    }
    pos += 2;
    Heredoc heredoc;
    if (pos < word.size() && word[pos] == '-') {
        heredoc.chomp = true;
        ++pos;
    }
    while (pos < word.size() && is_blank(word[pos])) {
        ++pos;
    }
    const auto rest = word.substr(pos);
    if (rest.empty() || rest.find('<') != std::string_view::npos) {
        return std::nullopt;
    }
    const auto delimiter = lex_delimiter(rest);
    if (delimiter.words != 1) {
        return std::nullopt;
    }
    heredoc.name = delimiter.text;
    heredoc.expand = !delimiter.quoted;
    if (!digits.empty() && digits.size() < 9) {
        heredoc.fd = std::stoi(std::string(digits));
    }
    return heredoc;
}

std::vector<Heredoc> heredocs_in_line(std::string_view line) {
    std::vector<Heredoc> heredocs;
    if (line.find("<<") == std::string_view::npos) {
        return heredocs;
    }
    const bool balanced = for_each_raw_word(line, [&](const std::string& word) {
        if (word.find("<<") == std::string::npos) {
            return;
        }
        if (auto heredoc = heredoc_word(word)) {
            if (heredocs.size() == max_heredocs_per_instruction) {
                throw Error("too many heredocs in one instruction (the limit is " +
                            std::to_string(max_heredocs_per_instruction) + ")");
            }
            heredocs.push_back(std::move(*heredoc));
        }
    });
    if (!balanced) {
        heredocs.clear();
    }
    return heredocs;
}

bool syntax_supports_heredocs(std::string_view syntax) {
    auto value = ascii_lower(syntax);
    const auto at = value.find('@');
    value = value.substr(0, at);
    for (const std::string_view prefix : {"docker.io/docker/dockerfile:", "docker/dockerfile:"}) {
        if (value.rfind(prefix, 0) != 0) {
            continue;
        }
        const auto tag = std::string_view(value).substr(prefix.size());
        if (tag.find("labs") != std::string_view::npos) {
            return true;
        }
        // 1.0 ... 1.3 (and their patch versions) predate heredocs.
        return !(tag.size() >= 3 && tag.substr(0, 2) == "1." && tag[2] >= '0' && tag[2] <= '3' &&
                 (tag.size() == 3 || !std::isdigit(static_cast<unsigned char>(tag[3]))));
    }
    return true;
}

} // namespace strata::parser
