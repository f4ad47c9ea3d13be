// Line level: the PEGTL grammar, continuations, comments, flags, JSON vs shell form.
#include "parser/grammar.hpp"
#include "parser/node.hpp"

#include <catch2/catch.hpp>
#include <tao/pegtl/contrib/analyze.hpp>

#include <fstream>
#include <sstream>

namespace ast_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata::parser;

namespace {

Ast parse(std::string_view text) { return parse_ast(text, "Buildfile"); }

Node only_instruction(Ast ast) {
    REQUIRE(ast.root.children.size() == 1);
    return std::move(ast.root.children.front());
}

std::string parse_error_of(std::string_view text) {
    try {
        parse(text);
    } catch (const ParseError& e) {
        return e.what();
    }
    FAIL("expected a ParseError for: " << text);
    return {};
}

} // namespace

TEST_CASE("grammar has no cycles without progress", "[grammar]") {
    CHECK(tao::pegtl::analyze<grammar::directives>(1) == 0);
    CHECK(tao::pegtl::analyze<grammar::body<'\\'>>(1) == 0);
    CHECK(tao::pegtl::analyze<grammar::body<'`'>>(1) == 0);
}

TEST_CASE("keywords keep their case and position", "[ast]") {
    const auto ast = parse("\n  from alpine AS Build\nrun echo hi\n");
    REQUIRE(ast.root.children.size() == 2);
    const auto& from = ast.root.children[0];
    CHECK(from.value == "from");
    CHECK(from.args() == std::vector<std::string>{"alpine", "AS", "Build"});
    CHECK(from.start_line == 2);
    CHECK(from.column == 3);
    CHECK(ast.root.children[1].start_line == 3);
    CHECK(ast.root.children[1].column == 1);
}

TEST_CASE("continuation lines are joined without separator", "[ast]") {
    const auto& run = only_instruction(parse("RUN echo hello\\\n  world \\\n  again\n"));
    CHECK(run.args() == std::vector<std::string>{"echo hello  world   again"});
    CHECK(run.start_line == 1);
    CHECK(run.end_line == 3);
    CHECK(run.original == "RUN echo hello  world   again");
}

TEST_CASE("comments and blank lines inside a continuation are skipped", "[ast]") {
    const auto ast = parse("FROM a\nRUN one \\\n# a comment \\\n\n   \n  two\nRUN three\n");
    REQUIRE(ast.root.children.size() == 3);
    CHECK(ast.root.children[1].args() == std::vector<std::string>{"one   two"});
    CHECK(ast.root.children[1].end_line == 6);
    CHECK(ast.root.children[2].start_line == 7);
}

TEST_CASE("a comment ending in the escape character does not continue", "[ast]") {
    CHECK(only_instruction(parse("# comment \\\nFROM a\n")).value == "FROM");
}

TEST_CASE("an escaped escape at the end of a line does not continue", "[ast]") {
    const auto ast = parse("RUN echo a\\\\\nRUN b\n");
    REQUIRE(ast.root.children.size() == 2);
    CHECK(ast.root.children[0].args() == std::vector<std::string>{"echo a\\\\"});
}

TEST_CASE("a continuation at end of file ends the instruction", "[ast]") {
    CHECK(only_instruction(parse("RUN echo \\")).args() == std::vector<std::string>{"echo"});
}

TEST_CASE("escape directive switches the continuation character", "[ast]") {
    auto ast = parse("# escape=`\nRUN dir c:\\ `\n  /b\n");
    CHECK(ast.escape == '`');
    CHECK(only_instruction(std::move(ast)).args() == std::vector<std::string>{"dir c:\\   /b"});
}

TEST_CASE("directive errors are reported at their line", "[ast]") {
    CHECK_THAT(parse_error_of("# escape=x\nFROM a\n"), Catch::Contains("Buildfile:1:10: invalid escape token 'x'"));
    CHECK_THAT(parse_error_of("# escape=\\\n# escape=`\nFROM a\n"),
               Catch::Contains("Buildfile:2:1: only one escape parser directive"));
}

TEST_CASE("a directive after a comment is a comment", "[ast]") {
    CHECK(parse("# hello\n# escape=`\nFROM a\n").escape == '\\');
}

TEST_CASE("flags are split off and dequoted", "[ast]") {
    const auto& copy = only_instruction(parse("COPY --from=\"build stage\" --chown=me -- --weird /dst\n"));
    CHECK(copy.flags == std::vector<std::string>{"--from=build stage", "--chown=me"});
    CHECK(copy.args() == std::vector<std::string>{"--weird", "/dst"});
}

TEST_CASE("exec form and shell form", "[ast]") {
    const auto& exec = only_instruction(parse("RUN [\"echo\", \"a b\"]\n"));
    CHECK(exec.json);
    CHECK(exec.args() == std::vector<std::string>{"echo", "a b"});

    const auto& shell = only_instruction(parse("RUN echo \"a b\"\n"));
    CHECK_FALSE(shell.json);
    CHECK(shell.args() == std::vector<std::string>{"echo \"a b\""});

    // Not valid JSON: shell form, kept verbatim.
    const auto& invalid = only_instruction(parse("CMD ['echo', 'hi']\n"));
    CHECK_FALSE(invalid.json);
    CHECK(invalid.args() == std::vector<std::string>{"['echo', 'hi']"});

    const auto& empty = only_instruction(parse("CMD []\n"));
    CHECK(empty.json);
    CHECK(empty.args().empty());
}

TEST_CASE("a JSON array with non-strings is an error", "[ast]") {
    const auto message = parse_error_of("FROM a\nCMD [ \"echo\", [ \"nested\" ] ]\n");
    CHECK_THAT(message, Catch::StartsWith("Buildfile:2:1: when using JSON array syntax, arrays must be comprised "
                                          "of strings only\nCMD [ \"echo\", [ \"nested\" ] ]\n^"));
    CHECK_THAT(parse_error_of("RUN [1]\n"), Catch::Contains("strings only"));
}

TEST_CASE("ENV and LABEL forms", "[ast]") {
    CHECK(only_instruction(parse("ENV A b c \"d\"\n")).args() == std::vector<std::string>{"A", "b c \"d\"", ""});
    CHECK(only_instruction(parse("ENV A=\"x y\" B=z\\ w C=\n")).args() ==
          std::vector<std::string>{"A", "\"x y\"", "=", "B", "z\\ w", "=", "C", "", "="});
    CHECK_THAT(parse_error_of("ENV PATH\n"), Catch::Contains("Buildfile:1:1: ENV must have two arguments"));
    CHECK_THAT(parse_error_of("LABEL a=b c\n"), Catch::Contains("can't find = in \"c\""));
}

TEST_CASE("ARG words keep quotes", "[ast]") {
    CHECK(only_instruction(parse("ARG abc=\"123 456\" def\n")).args() ==
          std::vector<std::string>{"abc=\"123 456\"", "def"});
}

TEST_CASE("files without instructions are rejected", "[ast]") {
    CHECK_THAT(parse_error_of(""), Catch::Contains("Buildfile:1:1: file with no instructions"));
    CHECK_THAT(parse_error_of("# only\n  # comments\n\n"), Catch::Contains("file with no instructions"));
}

TEST_CASE("a line holding only a continuation is an error, not a crash", "[ast]") {
    CHECK_THAT(parse_error_of("FROM a\n  \\\n"), Catch::Contains("Buildfile:2:3: line continuation without an instruction"));
}

TEST_CASE("arbitrary bytes never crash the parser", "[ast]") {
    std::string text;
    unsigned state = 12345;
    for (int round = 0; round < 300; ++round) {
        text.clear();
        for (int i = 0; i < 200; ++i) {
            state = state * 1103515245 + 12345;
            static const char alphabet[] = "RUN FROM COPY ENV \\\n#[]\"'=-{}$:` \t\r\x80\xff";
            text += alphabet[(state >> 16) % (sizeof alphabet - 1)];
        }
        try {
            parse(text);
        } catch (const strata::Error&) {
        }
    }
    SUCCEED("no crash");
}

TEST_CASE("line numbers match BuildKit's", "[ast][conformance]") {
    std::ifstream file(STRATA_CONFORMANCE_DIR "/buildkit-parser/line-numbers/Dockerfile", std::ios::binary);
    if (!file) {
        WARN("conformance data not found at " STRATA_CONFORMANCE_DIR);
        return;
    }
    std::stringstream text;
    text << file.rdbuf();
    const auto ast = parse(text.str());
    CHECK(ast.root.start_line == 5);
    CHECK(ast.root.end_line == 31);
    REQUIRE(ast.root.children.size() == 3);
    const std::vector<std::pair<int, int>> expected = {{5, 5}, {11, 12}, {17, 31}};
    for (std::size_t i = 0; i < expected.size(); ++i) {
        CHECK(ast.root.children[i].start_line == expected[i].first);
        CHECK(ast.root.children[i].end_line == expected[i].second);
    }
}

TEST_CASE("huge argument lists and chained ONBUILD do not exhaust the stack", "[ast]") {
    std::string json = "RUN [";
    for (int i = 0; i < 300000; ++i) {
        json += i ? ",\"a\"" : "\"a\"";
    }
    json += "]\n";
    CHECK(only_instruction(parse(json)).args().size() == 300000);

    std::string onbuild;
    for (int i = 0; i < 100000; ++i) {
        onbuild += "ONBUILD ";
    }
    CHECK_THAT(parse_error_of(onbuild + "RUN x\n"), Catch::Contains("Chaining ONBUILD"));
    CHECK(dump(only_instruction(parse("ONBUILD run echo test\n"))) == "onbuild (run \"echo test\")");
}

} // namespace ast_test
