// Stages, ARG scoping into FROM, stage references, target selection and build order.
#include "tests/parser/helpers.hpp"
#include "parser/buildfile.hpp"

#include <catch2/catch.hpp>

namespace dag_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata::parser;

using strata::parser_test::error_of;

namespace {


ParseOptions with_target(std::string target) {
    ParseOptions options;
    options.target = std::move(target);
    return options;
}

const char* const multi_stage = "FROM alpine AS base\n"     // 0
                                "FROM base AS build\n"      // 1
                                "COPY --from=tools /t /t\n"
                                "FROM busybox AS tools\n"   // 2 (not before build: error if used)
                                "FROM scratch\n";           // 3

} // namespace

TEST_CASE("global ARGs expand in FROM and --build-arg overrides them", "[dag]") {
    const std::string text = "ARG VERSION=3.18\nARG IMAGE=alpine:${VERSION}\nARG UNSET\n"
                             "FROM ${IMAGE} AS one\nFROM x${UNSET}y\n";
    const auto dag = parse_buildfile(text, {});
    CHECK(dag.stages[0].base == "alpine:3.18");
    CHECK(dag.stages[1].base == "xy");
    REQUIRE(dag.global_args.size() == 3);
    CHECK(dag.global_args[0].key == "VERSION");
    CHECK(dag.global_args[1].value == "alpine:3.18");
    CHECK_FALSE(dag.global_args[2].value);

    ParseOptions options;
    options.build_args = {{"VERSION", "3.20"}, {"UNSET", "-mid-"}, {"UNDECLARED", "z"}};
    const auto overridden = parse_buildfile(text, options);
    CHECK(overridden.stages[0].base == "alpine:3.20");
    CHECK(overridden.stages[1].base == "x-mid-y");
}

TEST_CASE("ARGs inside a stage do not reach later FROM lines", "[dag]") {
    const auto dag = parse_buildfile("FROM a\nARG V=1\nFROM img:${V}end\n", {});
    CHECK(dag.stages[1].base == "img:end");
    CHECK(dag.stages[0].steps.at(0).kind == Kind::arg);
}

TEST_CASE("a FROM that expands to nothing is an error", "[dag]") {
    CHECK_THAT(error_of("ARG X\nFROM ${X}\n"), Catch::Contains("Buildfile:2:1: FROM: base name \"${X}\" expands to an empty string"));
    CHECK_THAT(error_of("FROM ${X:?needX}\n"), Catch::Contains("Buildfile:1:1: failed to process"));
}

TEST_CASE("FROM an earlier stage and COPY --from by name or index", "[dag]") {
    const auto dag = parse_buildfile("FROM alpine AS Base\n"
                                     "FROM BASE AS build\n"
                                     "COPY --from=base /a /a\n"
                                     "COPY --from=0 /b /b\n"
                                     "COPY --from=golang:1.22 /c /c\n"
                                     "FROM scratch\n"
                                     "COPY --from=build /out /out\n",
                                     {});
    REQUIRE(dag.stages.size() == 3);
    CHECK(dag.stages[0].name == "base");
    CHECK(dag.stages[1].base_stage == 0);
    CHECK(dag.stages[1].base.empty());
    const auto& copies = dag.stages[1].steps;
    CHECK(copies[0].copy_from_stage == 0);
    CHECK(copies[1].copy_from_stage == 0);
    CHECK_FALSE(copies[2].copy_from_stage);
    CHECK(dag.stages[1].deps == std::vector<int>{0});
    CHECK(dag.stages[2].base == "scratch");
    CHECK(dag.stages[2].deps == std::vector<int>{1});
    CHECK(dag.target == 2);
    CHECK(dag.build_order == std::vector<int>{0, 1, 2});
}

TEST_CASE("deps are sorted and unique", "[dag]") {
    const auto dag = parse_buildfile("FROM a AS x\nFROM b AS y\nFROM y\nCOPY --from=x / /\nCOPY --from=y / /\n"
                                     "COPY --from=0 / /\n",
                                     {});
    CHECK(dag.stages[2].deps == std::vector<int>{0, 1});
}

TEST_CASE("references to later stages or the stage itself are errors naming both ends", "[dag]") {
    CHECK(error_of(multi_stage) == "Buildfile:3:1: COPY --from=tools refers to stage 2 defined later at "
                                   "Buildfile:4:1; a stage can only use stages defined before it\n"
                                   "COPY --from=tools /t /t\n^");
    CHECK_THAT(error_of("FROM a AS one\nFROM two AS one2\nFROM b AS two\n"), Catch::Contains("Buildfile:2:1: FROM two"));
    CHECK_THAT(error_of("FROM alpine AS alpine\n"),
               Catch::StartsWith("Buildfile:1:1: FROM alpine refers to its own stage (Buildfile:1:1)"));
    CHECK_THAT(error_of("FROM a\nCOPY --from=0 / /\n"), Catch::Contains("Buildfile:2:1: COPY --from=0 refers to its own stage"));
    CHECK_THAT(error_of("FROM a\nCOPY --from=5 / /\n"), Catch::Contains("there is no stage 5"));
    CHECK_THAT(error_of("FROM a AS x\nFROM b AS X\n"),
               Catch::Contains("Buildfile:2:1: duplicate stage name \"x\", first defined at Buildfile:1:1"));
}

TEST_CASE("target selection and build order", "[dag]") {
    const std::string text = "FROM alpine AS base\n"
                             "FROM base AS test\n"
                             "FROM busybox AS tools\n"
                             "FROM base AS app\n"
                             "COPY --from=tools /t /t\n"
                             "FROM scratch AS unrelated\n";
    const auto last = parse_buildfile(text, {});
    CHECK(last.target == 4);
    CHECK(last.build_order == std::vector<int>{4});

    const auto app = parse_buildfile(text, with_target("APP"));
    CHECK(app.target == 3);
    CHECK(app.build_order == std::vector<int>{0, 2, 3});

    const auto test = parse_buildfile(text, with_target("test"));
    CHECK(test.build_order == std::vector<int>{0, 1});

    CHECK_THAT(error_of(text, with_target("nope")), Catch::Contains("target stage \"nope\" could not be found"));
}

TEST_CASE("the escape directive reaches the DAG and FROM expansion", "[dag]") {
    const auto dag = parse_buildfile("# escape=`\nARG TAG=1\nFROM img:`$TAG-${TAG}\n", {});
    CHECK(dag.escape == '`');
    CHECK(dag.stages[0].base == "img:$TAG-1");
}

} // namespace dag_test
