// BuildKit's parser test data: the line-level AST printed in Node.Dump() format must equal
// upstream's `result` byte for byte; the negative Dockerfiles must be rejected.
#include "tests/parser/helpers.hpp"
#include "parser/node.hpp"

#include "util/error.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace dump_conformance_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata::parser;
namespace fs = std::filesystem;

using strata::parser_test::read_all;

namespace {

const fs::path parser_dir = STRATA_CONFORMANCE_DIR "/buildkit-parser";


std::vector<fs::path> cases_in(const fs::path& dir) {
    std::vector<fs::path> cases;
    for (const auto& entry : fs::directory_iterator(dir)) {
        cases.push_back(entry.path());
    }
    std::sort(cases.begin(), cases.end());
    return cases;
}

} // namespace

TEST_CASE("go_quote matches strconv.Quote", "[dump]") {
    CHECK(go_quote("a\"b\\c") == "\"a\\\"b\\\\c\"");
    CHECK(go_quote(std::string("\0\x07\n\t\x7f", 5)) == "\"\\x00\\a\\n\\t\\x7f\"");
    CHECK(go_quote("☃ \u00a0") == "\"☃ \\u00a0\"");
    CHECK(go_quote("\xff") == "\"\\xff\"");
}

TEST_CASE("BuildKit positive parser cases dump identically", "[dump][conformance]") {
    if (!fs::is_directory(parser_dir)) {
        WARN("conformance data not found at " << parser_dir << "; skipping");
        return;
    }
    int passed = 0;
    for (const auto& dir : cases_in(parser_dir / "positive")) {
        INFO("case: " << dir.filename().string());
        const auto ast = parse_ast(read_all(dir / "Dockerfile"), "Dockerfile");
        CHECK(dump(ast.root) + "\n" == read_all(dir / "result"));
        ++passed;
    }
    CHECK(passed == 33);
}

TEST_CASE("BuildKit negative parser cases are rejected", "[dump][conformance]") {
    if (!fs::is_directory(parser_dir)) {
        WARN("conformance data not found at " << parser_dir << "; skipping");
        return;
    }
    int rejected = 0;
    for (const auto& dir : cases_in(parser_dir / "negative")) {
        INFO("case: " << dir.filename().string());
        CHECK_THROWS_AS(parse_ast(read_all(dir / "Dockerfile"), "Dockerfile"), ParseError);
        ++rejected;
    }
    CHECK(rejected == 4);
}

// Every positive case that starts with FROM also passes the instruction layer and builds a
// DAG, except those BuildKit's instruction layer rejects too; each is listed with its reason.
TEST_CASE("BuildKit positive cases build a DAG unless BuildKit rejects them too", "[dump][conformance]") {
    if (!fs::is_directory(parser_dir)) {
        WARN("conformance data not found at " << parser_dir << "; skipping");
        return;
    }
    const std::map<std::string, std::string> rejected_by_buildkit = {
        {"flags", "unknown flag: --user"},
        {"health", "Buildfile:4:1: HEALTHCHECK requires at least one argument"},
    };
    int built = 0;
    for (const auto& dir : cases_in(parser_dir / "positive")) {
        const auto text = read_all(dir / "Dockerfile");
        const auto ast = parse_ast(text, "Dockerfile");
        const auto& first = ast.root.children.front().value;
        if (first != "FROM" && first != "from") {
            continue;  // line-level cases without a stage: BuildKit's instruction layer refuses them
        }
        const auto name = dir.filename().string();
        INFO("case: " << name);
        if (const auto expected = rejected_by_buildkit.find(name); expected != rejected_by_buildkit.end()) {
            CHECK_THROWS_WITH(parse_buildfile(text, {}), Catch::Contains(expected->second));
            continue;
        }
        CHECK_NOTHROW(parse_buildfile(text, {}));
        ++built;
    }
    CHECK(built > 20);
}

} // namespace dump_conformance_test
