// Huge and hostile input: the parser finishes, with a bounded error message, and never
// recurses on input size.
#include "parser/buildfile.hpp"
#include "parser/node.hpp"

#include <catch2/catch.hpp>

namespace robustness_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata::parser;

namespace {

std::string error_of(std::string_view text) {
    try {
        parse_buildfile(text, {});
    } catch (const strata::Error& e) {
        return e.what();
    }
    FAIL("expected an error");
    return {};
}

std::string repeated(std::string_view piece, std::size_t times) {
    std::string out;
    out.reserve(piece.size() * times);
    for (std::size_t i = 0; i < times; ++i) {
        out += piece;
    }
    return out;
}

} // namespace

TEST_CASE("a 100 MB line parses", "[robustness]") {
    const std::size_t size = 100'000'000;
    std::string text = "FROM a\nRUN ";
    text.append(size, 'x');
    text += "\n";
    const auto dag = parse_buildfile(text, {});
    const auto& run = dag.stages.at(0).steps.at(0);
    REQUIRE(run.command.size() == 1);
    CHECK(run.command[0].size() == size);
}

TEST_CASE("an error on a 100 MB line shows a window of it", "[robustness]") {
    std::string text = "FROM a\nFOO ";
    text.append(100'000'000, 'y');
    const auto message = error_of(text);
    CHECK_THAT(message, Catch::StartsWith("Buildfile:2:1: unknown instruction: FOO\nFOO yyy"));
    CHECK(message.size() < 400);
    CHECK_THAT(message, Catch::EndsWith("yyy...\n^"));
    // Far into a line, the window follows the column.
    const auto flag_error = error_of("FROM a\nRUN " + repeated("--mount=type=cache,target=/x ", 300) + "--bad=1 ls\n");
    CHECK_THAT(flag_error, Catch::StartsWith("Buildfile:2:8705: unknown flag: --bad\n...type=cache,target=/x --mount="));
    CHECK_THAT(flag_error, Catch::Contains("--bad=1 ls\n" + std::string(82, ' ') + "^"));
}

TEST_CASE("100 MB of JSON nesting falls back to the shell form, as Go's decoder gives up", "[robustness]") {
    std::string text = "FROM a\nCMD ";
    text.append(50'000'000, '[');
    text.append(50'000'000, ']');
    const auto ast = parse_ast(text, "Buildfile");
    const auto& cmd = ast.root.children.at(1);
    CHECK_FALSE(cmd.json);
    CHECK(cmd.args().at(0).size() == 100'000'000);
    // Within Go's limit it is JSON (and rejected: the element is not a string).
    CHECK_THROWS_WITH(parse_ast("CMD " + repeated("[", 9999) + repeated("]", 9999), "B"),
                      Catch::Contains("arrays must be comprised of strings only"));
}

TEST_CASE("argument and heredoc counts are bounded", "[robustness]") {
    CHECK_THAT(error_of("FROM a\nEXPOSE " + repeated("1 ", 1'000'001) + "\n"),
               Catch::Contains("too many arguments in one instruction (the limit is 1000000)"));
    CHECK_THAT(error_of("FROM a\nCOPY " + repeated("<<a ", 10'001) + "/d\n"),
               Catch::Contains("too many heredocs in one instruction (the limit is 10000)"));
    CHECK_THAT(error_of("FROM a\nLABEL " + repeated("a=b ", 1'000'001) + "\n"), Catch::Contains("too many arguments"));
    CHECK_THAT(error_of("FROM a\nCMD [" + repeated("\"a\",", 1'000'000) + "\"a\"]\n"), Catch::Contains("too many arguments"));
}

TEST_CASE("a million lines and binary garbage finish", "[robustness]") {
    const auto many = "FROM a\n" + repeated("RUN echo \\\n  x\n# c\n\n", 250'000);
    CHECK(parse_ast(many, "B").root.children.size() == 250'001);

    std::string garbage;
    unsigned state = 7;
    for (int i = 0; i < 20'000'000; ++i) {
        state = state * 1103515245 + 12345;
        garbage += static_cast<char>(state >> 23);
    }
    for (const auto& prefix : {"", "FROM a\nRUN ", "FROM a\nCOPY <<E ", "# escape=`\nFROM a\nONBUILD "}) {
        try {
            parse_buildfile(prefix + garbage, {});
        } catch (const strata::Error& e) {
            CHECK(std::string_view(e.what()).size() < 2000);
        }
    }
}

} // namespace robustness_test
