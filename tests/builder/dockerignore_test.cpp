// .dockerignore semantics: the upstream conformance table (shared/conformance/dockerignore,
// from moby/patternmatcher v0.6.1), the upstream ReadAll case, and the strata-specific parts
// (which ignore file is used, when a walker may skip an excluded directory).
#include "builder/ignore.hpp"
#include "tests/common/shell.hpp"
#include "util/error.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>

namespace dockerignore_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata::builder;
using strata::test::read_text;
using strata::test::ScratchDir;
using strata::test::write_text;
namespace fs = std::filesystem;

namespace {

const fs::path ignore_conformance_dir = fs::path(STRATA_CONFORMANCE_DIR) / "dockerignore";

struct ConformanceCase {
    std::size_t line = 0;
    std::string raw;
    std::vector<std::string> patterns;
    std::string path;
    std::string expected;  // "true", "false" or "error"
    std::string api;       // "Matches" or "MatchesOrParentMatches"
};

std::vector<std::string> split_keeping_empty(const std::string& text, char separator) {
    std::vector<std::string> fields;
    std::size_t start = 0;
    for (std::size_t sep = text.find(separator); sep != std::string::npos; sep = text.find(separator, start)) {
        fields.push_back(text.substr(start, sep - start));
        start = sep + 1;
    }
    fields.push_back(text.substr(start));
    return fields;
}

// Every line after the header is one case; a line that does not parse fails the test.
std::vector<ConformanceCase> load_cases(const fs::path& tsv, std::size_t& data_lines) {
    std::ifstream in(tsv, std::ios::binary);
    std::string line;
    std::getline(in, line);
    REQUIRE(line.rfind("patterns\tpath\texpected\tapi", 0) == 0);
    std::vector<ConformanceCase> cases;
    data_lines = 0;
    for (std::size_t number = 2; std::getline(in, line); ++number) {
        if (line.empty()) continue;
        ++data_lines;
        INFO("cases.tsv line " << number << ": " << line);
        const auto fields = split_keeping_empty(line, '\t');
        REQUIRE(fields.size() >= 4);
        ConformanceCase c;
        c.line = number;
        c.raw = line;
        c.patterns = nlohmann::json::parse(fields[0]).get<std::vector<std::string>>();
        c.path = nlohmann::json::parse(fields[1]).get<std::string>();
        c.expected = fields[2];
        c.api = fields[3];
        REQUIRE((c.expected == "true" || c.expected == "false" || c.expected == "error"));
        REQUIRE((c.api == "Matches" || c.api == "MatchesOrParentMatches"));
        cases.push_back(std::move(c));
    }
    return cases;
}

std::string error_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const strata::Error& e) {
        return e.what();
    }
    return {};
}

void check_error_case(const ConformanceCase& c) {
    std::string message;
    if (c.api == "MatchesOrParentMatches") {
        // Upstream builds the matcher first and expects the error from the match call,
        // on every call.
        std::optional<IgnoreMatcher> matcher;
        REQUIRE_NOTHROW(matcher.emplace(c.patterns));
        message = error_of([&] { (void)matcher->matches(c.path); });
        REQUIRE_FALSE(message.empty());
        REQUIRE_FALSE(error_of([&] { (void)matcher->matches(c.path); }).empty());
    } else {
        message = error_of([&] { (void)IgnoreMatcher(c.patterns).matches(c.path); });
        REQUIRE_FALSE(message.empty());
    }
    if (c.patterns.size() == 1) REQUIRE_THAT(message, Catch::Contains("'" + c.patterns[0] + "'"));
}

std::vector<std::string> expected_lines(const std::string& text) {
    auto lines = split_keeping_empty(text, '\n');
    REQUIRE(lines.back().empty());  // every line is terminated
    lines.pop_back();
    return lines;
}

} // namespace

TEST_CASE("every moby/patternmatcher conformance case gives the recorded result", "[dockerignore]") {
    const auto tsv = ignore_conformance_dir / "cases.tsv";
    if (!fs::exists(tsv)) {
        WARN("conformance data not found at " << tsv << "; skipping");
        return;
    }
    std::size_t data_lines = 0;
    const auto cases = load_cases(tsv, data_lines);
    REQUIRE(cases.size() == data_lines);
    std::map<std::string, std::size_t> passed;
    for (const auto& c : cases) {
        INFO("cases.tsv line " << c.line << ": " << c.raw);
        if (c.expected == "error") {
            check_error_case(c);
        } else {
            const IgnoreMatcher matcher(c.patterns);
            REQUIRE(matcher.matches(c.path) == (c.expected == "true"));
        }
        ++passed[c.expected];
    }
    // Every kind of expectation was exercised, and every row was run.
    CHECK(passed["true"] > 0);
    CHECK(passed["false"] > 0);
    CHECK(passed["error"] > 0);
    CHECK(passed["true"] + passed["false"] + passed["error"] == data_lines);
}

TEST_CASE("read_ignore_file reads the upstream ReadAll file like Docker", "[dockerignore]") {
    const auto dir = ignore_conformance_dir / "readall";
    if (!fs::exists(dir / "case1.dockerignore")) {
        WARN("conformance data not found at " << dir << "; skipping");
        return;
    }
    const auto patterns = read_ignore_file(read_text(dir / "case1.dockerignore"));
    const auto expected = expected_lines(read_text(dir / "case1.expected"));
    CHECK(patterns == expected);
    CHECK(read_ignore_file("").empty());
}

TEST_CASE("read_ignore_file: BOM, CRLF, column-1 comments and exclusions", "[dockerignore]") {
    using V = std::vector<std::string>;
    CHECK(read_ignore_file("\xEF\xBB\xBF" "a\r\nb\r\n") == V{"a", "b"});
    // A BOM is only special at the start of the file.
    CHECK(read_ignore_file("a\n\xEF\xBB\xBF" "b") == V{"a", "\xEF\xBB\xBF" "b"});
    CHECK(read_ignore_file("# comment\n  # not a comment\n\t\n") == V{"# not a comment"});
    CHECK(read_ignore_file("!  /x/../y/\n/\n//a//b/./\n") == V{"!y", "/", "a/b"});
    CHECK(read_ignore_file("../../up\n") == V{"../../up"});
    CHECK_THROWS_WITH(read_ignore_file(std::string(70000, 'x')), Catch::Contains("line 1"));
    CHECK(read_ignore_file(std::string(65535, 'x')).size() == 1);
}

TEST_CASE("IgnoreMatcher rejects malformed patterns when it is built", "[dockerignore]") {
    for (const std::string bad : {"[", "[^bc", "a[", "[]a]", "[-]", "[x-]", "[a-b-c]", "\\", "!", " ! "}) {
        INFO("pattern " << bad);
        CHECK_THROWS_AS(IgnoreMatcher({bad}), strata::Error);
    }
    // Blank patterns are dropped rather than rejected.
    const IgnoreMatcher blanks({"", "  ", "\t"});
    CHECK(blanks.empty());
    CHECK_FALSE(blanks.matches("anything"));
}

TEST_CASE("IgnoreMatcher: exceptions, parents and whitespace", "[dockerignore]") {
    const IgnoreMatcher m({"  docs/  ", "!docs/keep.md", "*.tmp", "!**/important.tmp"});
    CHECK(m.has_exclusions());
    CHECK(m.matches("docs"));
    CHECK(m.matches("docs/a/b.txt"));
    CHECK_FALSE(m.matches("docs/keep.md"));
    CHECK(m.matches("x.tmp"));
    CHECK_FALSE(m.matches("important.tmp"));
    CHECK_FALSE(m.matches("src/x.tmp"));  // `*` does not cross '/'
    CHECK_FALSE(m.matches("src"));

    // Patterns are path-cleaned when the matcher is built; paths are used as given.
    CHECK(IgnoreMatcher({"a//b/./c/"}).matches("a/b/c"));
    CHECK(IgnoreMatcher({"x/../y"}).matches("y"));
    CHECK_FALSE(IgnoreMatcher({"y"}).matches("x/../y"));

    // An exception before anything has matched changes nothing.
    const IgnoreMatcher early({"!a", "a"});
    CHECK(early.matches("a"));
    // A later pattern can exclude again what an exception brought back.
    const IgnoreMatcher again({"a", "!a/b", "a/b/c"});
    CHECK_FALSE(again.matches("a/b"));
    CHECK(again.matches("a/b/c/d"));
}

TEST_CASE("IgnoreMatcher: glob details from the translated regexp", "[dockerignore]") {
    // `**/` may stand for no directory at all.
    CHECK(IgnoreMatcher({"a/**/b"}).matches("a/b"));
    CHECK(IgnoreMatcher({"a/**/b"}).matches("a/x/y/b"));
    CHECK_FALSE(IgnoreMatcher({"a/**/b"}).matches("ab"));
    // A class matches one code point; `?` never matches '/'.
    CHECK(IgnoreMatcher({"[α-ω]x"}).matches("λx"));
    CHECK_FALSE(IgnoreMatcher({"a?b"}).matches("a/b"));
    // Only ASCII punctuation can be escaped; other escapes are reported when used.
    CHECK(IgnoreMatcher({"a\\?"}).matches("a?"));
    CHECK_FALSE(IgnoreMatcher({"a\\?"}).matches("ab"));
    const IgnoreMatcher letter_escape({"a\\q"});
    CHECK_THROWS_WITH(letter_escape.matches("aq"), Catch::Contains("'a\\q'"));
    // A backwards range passes the syntax check but fails on use, like Docker's regexp.
    const IgnoreMatcher backwards({"x", "[z-a]"});
    CHECK(backwards.matches("x"));  // the bad pattern is skipped once something matched
    CHECK_THROWS_WITH(backwards.matches("y"), Catch::Contains("'[z-a]'"));
}

TEST_CASE("may_match_inside tells a walker when an excluded directory can be skipped", "[dockerignore]") {
    const IgnoreMatcher docs({"docs", "!docs/README.md"});
    CHECK(docs.may_match_inside("docs"));
    CHECK(docs.may_match_inside("docs/"));
    CHECK_FALSE(docs.may_match_inside("docs/sub"));
    CHECK_FALSE(docs.may_match_inside("src"));
    CHECK(docs.may_match_inside(""));  // the context root holds everything

    CHECK_FALSE(IgnoreMatcher({"**"}).may_match_inside("a"));  // no exceptions at all
    CHECK(IgnoreMatcher({"*", "!*/keep"}).may_match_inside("foo"));
    CHECK_FALSE(IgnoreMatcher({"build", "!docs/*.md"}).may_match_inside("build"));
    CHECK(IgnoreMatcher({"build", "!b?ild/keep"}).may_match_inside("build"));
    CHECK(IgnoreMatcher({"node_modules", "!**/keep"}).may_match_inside("node_modules"));
    CHECK(IgnoreMatcher({"out", "!out/**"}).may_match_inside("out"));
    CHECK_FALSE(IgnoreMatcher({"out", "!other/**"}).may_match_inside("out"));
}

TEST_CASE("may_match_inside never lets a walker skip a path that would be kept", "[dockerignore]") {
    const std::vector<std::string> paths = {
        "docs/README.md", "docs/a/b.md", "docs/x.txt", "src/main.c", "src/keep", "src/lib/x.o",
        "build/keep", "build/out/x.o", "build/out/keep", "a/b/c/d", "a/b/e", "a/x",
        "node_modules/p/keep", "node_modules/p/index.js", "foo/keep", "foo/bar/keep",
    };
    const std::vector<std::vector<std::string>> pattern_lists = {
        {"docs", "!docs/README.md"},     {"*", "!*/keep"},          {"build", "!docs/*.md"},
        {"**/*.o", "!build/out/x.o"},    {"a", "!a/b/**"},          {"**", "!**/keep"},
        {"src", "!src/ma?n.c"},          {"*", "!src/[a-m]*"},      {"build", "!bu*/keep"},
        {"a/b", "!a"},                   {"a", "!a/b", "a/b/c"},    {"**", "!a**"},
        {"*", "!*/*/keep"},              {"**", "!foo/bar"},        {"*/out", "!build/out/k*"},
    };
    std::set<std::string> dirs;
    for (const auto& path : paths)
        for (auto slash = path.find('/'); slash != std::string::npos; slash = path.find('/', slash + 1))
            dirs.insert(path.substr(0, slash));

    std::size_t skippable = 0;
    for (const auto& patterns : pattern_lists) {
        const IgnoreMatcher matcher(patterns);
        for (const auto& dir : dirs) {
            if (!matcher.matches(dir) || matcher.may_match_inside(dir)) continue;
            ++skippable;
            for (const auto& path : paths) {
                if (path.rfind(dir + "/", 0) != 0) continue;
                INFO("patterns " << nlohmann::json(patterns).dump() << ", skipped dir " << dir);
                CHECK(matcher.matches(path));
            }
        }
    }
    CHECK(skippable > 0);  // the check above was not vacuous
}

TEST_CASE("load_context_ignore prefers <buildfile>.dockerignore, then <context>/.dockerignore", "[dockerignore]") {
    ScratchDir scratch;
    const auto context = scratch.path() / "ctx";
    const auto buildfile = context / "Buildfile";
    fs::create_directories(context);
    write_text(buildfile, "FROM scratch\n");

    CHECK(load_context_ignore(context, buildfile).empty());

    write_text(context / ".dockerignore", "from-context\n");
    auto matcher = load_context_ignore(context, buildfile);
    CHECK(matcher.matches("from-context"));
    CHECK_FALSE(matcher.matches("from-buildfile"));

    write_text(context / "Buildfile.dockerignore", "# BuildKit's rule\nfrom-buildfile\n");
    matcher = load_context_ignore(context, buildfile);
    CHECK(matcher.matches("from-buildfile"));
    CHECK_FALSE(matcher.matches("from-context"));

    // A Buildfile outside the context brings its own ignore file along.
    const auto elsewhere = scratch.path() / "other" / "web.Buildfile";
    write_text(elsewhere, "FROM scratch\n");
    write_text(scratch.path() / "other" / "web.Buildfile.dockerignore", "web-only\n");
    matcher = load_context_ignore(context, elsewhere);
    CHECK(matcher.matches("web-only"));
    CHECK_FALSE(matcher.matches("from-context"));

    // No Buildfile path (stdin): only the context's file counts.
    CHECK(load_context_ignore(context, {}).matches("from-context"));

    // A bad pattern names the file and the pattern.
    write_text(context / ".dockerignore", "ok\na[\n");
    CHECK_THROWS_WITH(load_context_ignore(context, {}),
                      Catch::Contains(".dockerignore") && Catch::Contains("'a['"));
}

} // namespace dockerignore_test
