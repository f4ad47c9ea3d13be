// Typed instructions through the public API, and ParseError positions.
#include "tests/parser/helpers.hpp"
#include "parser/buildfile.hpp"

#include <catch2/catch.hpp>

namespace instructions_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata::parser;

using strata::parser_test::error_of;

namespace {

Dag parse(std::string_view text) { return parse_buildfile(text, ParseOptions{}); }

const std::vector<Instruction>& steps_of(const Dag& dag) {
    REQUIRE(!dag.stages.empty());
    return dag.stages.back().steps;
}


} // namespace

TEST_CASE("kind names", "[instructions]") {
    CHECK(kind_name(Kind::from) == "FROM");
    CHECK(kind_name(Kind::entrypoint) == "ENTRYPOINT");
    CHECK(kind_name(Kind::arg) == "ARG");
}

TEST_CASE("FROM with and without AS", "[instructions]") {
    const auto dag = parse("FROM alpine:3.19\nfrom debian As Builder\n");
    REQUIRE(dag.stages.size() == 2);
    CHECK(dag.stages[0].name.empty());
    CHECK(dag.stages[0].base == "alpine:3.19");
    CHECK(dag.stages[1].name == "builder");
    CHECK(dag.stages[1].loc.line == 2);
    CHECK(dag.stages[1].loc.column == 1);
    CHECK(dag.stages[1].steps.empty());
    CHECK_THAT(error_of("FROM a b\n"), Catch::Contains("FROM requires either one or three arguments"));
    CHECK_THAT(error_of("FROM a AS 1x\n"), Catch::Contains("invalid name for build stage: \"1x\""));
}

TEST_CASE("RUN, CMD, ENTRYPOINT in shell and exec form", "[instructions]") {
    const auto dag = parse("FROM a\nRUN echo $HOME && ls\nRUN [\"/bin/sh\", \"-c\", \"x\"]\n"
                           "CMD [\"serve\"]\nENTRYPOINT exec app\nCMD []\n");
    const auto& steps = steps_of(dag);
    REQUIRE(steps.size() == 5);
    CHECK(steps[0].kind == Kind::run);
    CHECK(steps[0].shell_form);
    CHECK(steps[0].command == std::vector<std::string>{"echo $HOME && ls"});
    CHECK(steps[0].original == "RUN echo $HOME && ls");
    CHECK(steps[0].loc.line == 2);
    CHECK_FALSE(steps[1].shell_form);
    CHECK(steps[1].command == std::vector<std::string>{"/bin/sh", "-c", "x"});
    CHECK(steps[2].kind == Kind::cmd);
    CHECK(steps[2].command == std::vector<std::string>{"serve"});
    CHECK(steps[3].kind == Kind::entrypoint);
    CHECK(steps[3].shell_form);
    CHECK(steps[4].command.empty());
    CHECK_FALSE(steps[4].shell_form);
    CHECK_THAT(error_of("FROM a\nRUN\n"), Catch::Contains("Buildfile:2:1: RUN requires at least one argument"));
}

TEST_CASE("COPY sources, destination and --from", "[instructions]") {
    const auto dag = parse("FROM a\nCOPY a b /dst/\nCOPY --from=alpine:3 [\"x y\", \"/z\"]\n");
    const auto& steps = steps_of(dag);
    REQUIRE(steps.size() == 2);
    CHECK(steps[0].sources == std::vector<std::string>{"a", "b"});
    CHECK(steps[0].dest == "/dst/");
    CHECK(steps[0].copy_from.empty());
    CHECK(steps[1].sources == std::vector<std::string>{"x y"});
    CHECK(steps[1].dest == "/z");
    CHECK(steps[1].copy_from == "alpine:3");
    CHECK_FALSE(steps[1].copy_from_stage);
}

TEST_CASE("COPY flag errors", "[instructions]") {
    CHECK(error_of("FROM a\nCOPY --bogus=1 a b\n") == "Buildfile:2:6: unknown flag: --bogus\nCOPY --bogus=1 a b\n     ^");
    CHECK_THAT(error_of("FROM a\nCOPY --chwon=me a b\n"), Catch::Contains("unknown flag: --chwon (did you mean --chown?)"));
    CHECK_THAT(error_of("FROM a\nCOPY --from=a --from=b a b\n"), Catch::Contains("duplicate flag specified: --from"));
    CHECK_THAT(error_of("FROM a\nCOPY --link=maybe a b\n"),
               Catch::Contains("Buildfile:2:6: expecting boolean value for flag --link, not: maybe"));
    CHECK_THAT(error_of("FROM a\nCOPY --link= a b\n"), Catch::Contains("missing a value on flag: --link"));
    CHECK_THAT(error_of("FROM a\nADD --from=x a b\n"), Catch::Contains("unknown flag: --from"));
    CHECK_THAT(error_of("FROM a\nCOPY --from a b\n"), Catch::Contains("missing a value on flag: --from"));
    CHECK_THAT(error_of("FROM a\nCOPY only\n"), Catch::Contains("COPY requires at least two arguments"));
    CHECK_THAT(error_of("FROM a\nRUN --from=x ls\n"), Catch::Contains("unknown flag: --from"));
}

TEST_CASE("ENV and LABEL keep values unexpanded with their quotes", "[instructions]") {
    const auto dag = parse("FROM a\nENV PATH /x:$PATH \"q\"\nENV A=\"1 2\" B=${A}\\ z\nLABEL \"k\"=v\n");
    const auto& steps = steps_of(dag);
    REQUIRE(steps.size() == 3);
    REQUIRE(steps[0].pairs.size() == 1);
    CHECK(steps[0].pairs[0].key == "PATH");
    CHECK(steps[0].pairs[0].value == "/x:$PATH \"q\"");
    REQUIRE(steps[1].pairs.size() == 2);
    CHECK(steps[1].pairs[0].value == "\"1 2\"");
    CHECK(steps[1].pairs[1].key == "B");
    CHECK(steps[1].pairs[1].value == "${A}\\ z");
    CHECK(steps[2].kind == Kind::label);
    CHECK(steps[2].pairs[0].key == "\"k\"");
    CHECK(steps[2].pairs[0].value == "v");
    // The builder expands them with the lexer.
    CHECK(expand_word(*steps[1].pairs[1].value, {{"A", "1 2"}}) == "1 2 z");
    CHECK_THAT(error_of("FROM a\nENV\n"), Catch::Contains("ENV requires at least one argument"));
    CHECK_THAT(error_of("FROM a\nENV =x\n"), Catch::Contains("ENV names can not be blank"));
}

TEST_CASE("ARG with and without default", "[instructions]") {
    const auto dag = parse("FROM a\nARG A B=\"x y\" C=\n");
    const auto& steps = steps_of(dag);
    REQUIRE(steps.size() == 1);
    REQUIRE(steps[0].pairs.size() == 3);
    CHECK(steps[0].pairs[0].key == "A");
    CHECK_FALSE(steps[0].pairs[0].value);
    CHECK(steps[0].pairs[1].value == "\"x y\"");
    CHECK(steps[0].pairs[2].value == "");
}

TEST_CASE("WORKDIR", "[instructions]") {
    const auto dag = parse("FROM a\nWORKDIR /app dir\n");
    const auto& steps = steps_of(dag);
    CHECK(steps.at(0).path == "/app dir");
    CHECK_THAT(error_of("FROM a\nWORKDIR\n"), Catch::Contains("WORKDIR requires exactly one argument"));
}

TEST_CASE("unknown instructions, with a suggestion when one is close", "[instructions]") {
    CHECK(error_of("FROM a\nFOO bar\n") == "Buildfile:2:1: unknown instruction: FOO\nFOO bar\n^");
    CHECK(error_of("FROM a\n  runn ls\n") == "Buildfile:2:3: unknown instruction: RUNN (did you mean RUN?)\n  runn ls\n  ^");
    CHECK_THAT(error_of("FROM a\nWORKDRI /x\n"), Catch::Contains("unknown instruction: WORKDRI (did you mean WORKDIR?)"));
    CHECK_THAT(error_of("FROM a\nENTRYPIONT x\n"), Catch::Contains("(did you mean ENTRYPOINT?)"));
    CHECK_THAT(error_of("FROM a\nXYZZY x\n"), !Catch::Contains("did you mean"));
}

TEST_CASE("the caret follows tabs", "[instructions]") {
    CHECK(error_of("FROM a\n\t FOO\n") == "Buildfile:2:3: unknown instruction: FOO\n\t FOO\n\t ^");
}

TEST_CASE("only ARG may come before the first FROM", "[instructions]") {
    CHECK_THAT(error_of("ARG X\nRUN ls\nFROM a\n"),
               Catch::StartsWith("Buildfile:2:1: RUN before the first FROM: only ARG may come before FROM"));
    CHECK_THAT(error_of("ARG X\n"), Catch::Contains("no FROM instruction"));
}

TEST_CASE("the file name from the options appears in errors", "[instructions]") {
    ParseOptions options;
    options.filename = "dir/Containerfile";
    CHECK_THAT(error_of("FROM a\nFOO\n", options), Catch::StartsWith("dir/Containerfile:2:1: unknown instruction"));
}

} // namespace instructions_test
