// Shell-word expansion: BuildKit's envVarTest and wordsTest data, plus the ${VAR#p},
// ${VAR%p} and ${VAR/p/r} modifiers, which upstream tests only in Go code.
#include "parser/buildfile.hpp"

#include <catch2/catch.hpp>

#include <fstream>

namespace lexer_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata::parser;

namespace {

const std::string shell_dir = STRATA_CONFORMANCE_DIR "/buildkit-shell/";

std::optional<std::vector<std::string>> read_lines(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    if (!file) {
        return std::nullopt;
    }
    std::vector<std::string> lines;
    for (std::string line; std::getline(file, line);) {
        lines.push_back(line);
    }
    return lines;
}

std::string trim(std::string_view text) {
    const auto first = text.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) {
        return {};
    }
    return std::string(text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1));
}

std::vector<std::string> split(const std::string& text, char separator) {
    // Unlike getline, keeps a trailing empty field ("a|b|" has three).
    std::vector<std::string> parts{""};
    for (const char c : text) {
        if (c == separator) {
            parts.emplace_back();
        } else {
            parts.back() += c;
        }
    }
    return parts;
}

std::string expand_or_error(std::string_view word, const Environment& env) {
    try {
        return expand_word(word, env);
    } catch (const strata::Error&) {
        return "error";
    }
}

std::vector<std::string> words_or_error(std::string_view word, const Environment& env) {
    try {
        return expand_words(word, env);
    } catch (const strata::Error&) {
        return {"error"};
    }
}

} // namespace

TEST_CASE("BuildKit envVarTest: every case passes", "[lexer][conformance]") {
    const auto lines = read_lines(shell_dir + "envVarTest");
    if (!lines) {
        WARN("conformance data not found at " << shell_dir << "; skipping");
        return;
    }
    const Environment env = {{"PWD", "/home"}, {"SHELL", "bash"}, {"KOREAN", "한국어"}, {"NULL", ""}};
    int run = 0;
    for (const auto& raw : *lines) {
        if (raw.empty() || raw[0] == '#' || trim(raw).empty()) {
            continue;
        }
        const auto fields = split(trim(raw), '|');
        REQUIRE(fields.size() == 3);
        const auto platform = trim(fields[0]);
        if (platform == "W") {
            continue;
        }
        const auto input = trim(fields[1]);
        const auto expected = trim(fields[2]);
        INFO("case: " << raw);
        REQUIRE(expand_or_error(input, env) == expected);
        ++run;
    }
    CHECK(run == 228);
}

TEST_CASE("BuildKit wordsTest: every case passes", "[lexer][conformance]") {
    const auto lines = read_lines(shell_dir + "wordsTest");
    if (!lines) {
        WARN("conformance data not found at " << shell_dir << "; skipping");
        return;
    }
    Environment env;
    int run = 0;
    for (const auto& line : *lines) {
        if (!line.empty() && line[0] == '#') {
            continue;
        }
        if (line.rfind("ENV ", 0) == 0) {
            auto definition = line.substr(4);
            definition.erase(0, definition.find_first_not_of(' '));
            const auto eq = definition.find('=');
            env[definition.substr(0, eq)] = definition.substr(eq + 1);
            continue;
        }
        const auto bar = line.find('|');
        REQUIRE(bar != std::string::npos);
        const auto input = trim(line.substr(0, bar));
        auto expected_text = line.substr(bar + 1);
        expected_text.erase(0, expected_text.find_first_not_of(' '));
        INFO("case: " << line);
        REQUIRE(words_or_error(input, env) == split(expected_text, ','));
        ++run;
    }
    CHECK(run == 24);
}

TEST_CASE("expansion errors say what failed", "[lexer]") {
    const Environment env = {{"EMPTY", ""}};
    CHECK_THROWS_WITH(expand_word("a${X:?must be set}", env), "failed to process \"a${X:?must be set}\": X: must be set");
    CHECK_THROWS_WITH(expand_word("${EMPTY:?}", env), Catch::Contains("EMPTY: is not allowed to be empty"));
    CHECK_THROWS_WITH(expand_word("${X?}", env), Catch::Contains("X: is not allowed to be unset"));
    CHECK_THROWS_WITH(expand_word("${X", env), Catch::Contains("missing '}'"));
    CHECK_THROWS_WITH(expand_word("${X:=a}", env), Catch::Contains("unsupported modifier (:=)"));
    CHECK_THROWS_WITH(expand_word("\"abc", env), Catch::Contains("matching double-quote"));
}

TEST_CASE("prefix and suffix removal", "[lexer]") {
    const Environment env = {{"FILE", "dir/sub/name.tar.gz"}, {"STAR", "a*b"}};
    CHECK(expand_word("${FILE#*/}", env) == "sub/name.tar.gz");
    CHECK(expand_word("${FILE##*/}", env) == "name.tar.gz");
    CHECK(expand_word("${FILE%.*}", env) == "dir/sub/name.tar");
    CHECK(expand_word("${FILE%%.*}", env) == "dir/sub/name");
    CHECK(expand_word("${FILE#nomatch}", env) == "dir/sub/name.tar.gz");
    CHECK(expand_word("${FILE%?z}", env) == "dir/sub/name.tar.");
    CHECK(expand_word("${STAR#a\\*}", env) == "b");
    CHECK(expand_word("${UNSET#x}", env) == "");
    CHECK_THROWS_WITH(expand_word("${FILE#\\x}", env), Catch::Contains("invalid pattern"));
}

TEST_CASE("pattern substitution", "[lexer]") {
    const Environment env = {{"V", "a-b-c"}, {"P", "/usr/local/bin"}};
    CHECK(expand_word("${V/-/+}", env) == "a+b-c");
    CHECK(expand_word("${V//-/+}", env) == "a+b+c");
    CHECK(expand_word("${V/x/y}", env) == "a-b-c");
    CHECK(expand_word("${V/-*/}", env) == "a");
    CHECK(expand_word("${P//\\//:}", env) == ":usr:local:bin");
    CHECK(expand_word("${V/?/z}", env) == "z-b-c");
    CHECK_THROWS_WITH(expand_word("${V/a}", env), Catch::Contains("missing '/'"));
}

TEST_CASE("expand_words splits unquoted expansions only", "[lexer]") {
    const Environment env = {{"TWO", "x  y"}};
    CHECK(expand_words("a $TWO \"$TWO\" 'b c'", env) == std::vector<std::string>{"a", "x", "y", "x  y", "b c"});
    CHECK(expand_word("a $TWO", env) == "a x  y");
}

TEST_CASE("hostile words fail cleanly or finish quickly", "[lexer]") {
    std::string nested;
    for (int i = 0; i < 5000; ++i) {
        nested += "${A:-";
    }
    nested += "x" + std::string(5000, '}');
    CHECK_THROWS_WITH(expand_word(nested, {}), Catch::Contains("nested more than 100 deep"));

    std::string shallow = "${A:-${B:-${C:-deep}}}";
    CHECK(expand_word(shallow, {}) == "deep");

    // Backtracking would take ages here without remembering failed positions.
    const Environment env = {{"V", std::string(3000, 'a')}};
    CHECK(expand_word("${V#*a*a*a*a*a*a*a*a*b}", env) == env.at("V"));
    CHECK(expand_word("${V//a*a/x}", env) == "x");
}

TEST_CASE("the escape character can be a backtick", "[lexer]") {
    const Environment env = {{"A", "x"}};
    CHECK(expand_word("`$A c:\\dir \"`\"\"", env, '`') == "$A c:\\dir \"");
    CHECK(expand_words("a` b $A", env, '`') == std::vector<std::string>{"a b", "x"});
}

} // namespace lexer_test
