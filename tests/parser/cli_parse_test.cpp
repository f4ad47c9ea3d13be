// `strata parse` as a user runs it: the built binary on every BuildKit positive case must
// print exactly upstream's `result`; the JSON format carries positions; errors exit 1.
#include "tests/parser/helpers.hpp"
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace cli_parse_test {  // this file's own names: a folder's tests compile as unity batches

namespace fs = std::filesystem;

using strata::parser_test::read_all;

namespace {

const fs::path parser_dir = STRATA_CONFORMANCE_DIR "/buildkit-parser";

struct Output {
    int status = -1;
    std::string text;
};

// Runs a shell command line; the arguments used here are paths without quotes.
Output run(const std::string& command) {
    Output out;
    FILE* pipe = ::popen(command.c_str(), "r");
    REQUIRE(pipe != nullptr);
    char buffer[65536];
    while (const std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) {
        out.text.append(buffer, n);
    }
    const int status = ::pclose(pipe);
    out.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return out;
}


std::string binary() {
    const fs::path path = STRATA_BINARY;
    REQUIRE(fs::exists(path));  // build the `strata` target too: ninja -C <build>
    return path.string();
}

} // namespace

TEST_CASE("strata parse --format dump equals BuildKit's result for every positive case", "[cli][conformance]") {
    if (!fs::is_directory(parser_dir)) {
        WARN("conformance data not found at " << parser_dir << "; skipping");
        return;
    }
    const auto strata = binary();
    int compared = 0;
    for (const auto& entry : fs::directory_iterator(parser_dir / "positive")) {
        INFO("case: " << entry.path().filename().string());
        const auto out = run(strata + " parse --format dump -f " + (entry.path() / "Dockerfile").string());
        CHECK(out.status == 0);
        CHECK(out.text == read_all(entry.path() / "result"));
        ++compared;
    }
    CHECK(compared == 33);
}

TEST_CASE("strata parse --format json gives positions, heredocs and directives", "[cli]") {
    const auto strata = binary();
    const fs::path dir = fs::temp_directory_path() / ("strata-parse-test-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    {
        std::ofstream file(dir / "Buildfile", std::ios::binary);
        file << "# syntax=docker/dockerfile:1\nFROM alpine AS base\n\n  RUN --network=none <<EOF\necho hi\nEOF\n"
                "ONBUILD COPY a b\n";
    }
    // Without -f, ./Buildfile is read.
    const auto out = run("cd " + dir.string() + " && " + strata + " parse --format json");
    fs::remove_all(dir);
    REQUIRE(out.status == 0);
    const auto json = nlohmann::json::parse(out.text);
    CHECK(json["file"] == "Buildfile");
    CHECK(json["escape"] == "\\");
    CHECK(json["directives"]["syntax"] == "docker/dockerfile:1");
    const auto& instructions = json["instructions"];
    REQUIRE(instructions.size() == 3);
    const auto& run_step = instructions[1];
    CHECK(run_step["keyword"] == "RUN");
    CHECK(run_step["line"] == 4);
    CHECK(run_step["column"] == 3);
    CHECK(run_step["end_line"] == 6);
    CHECK(run_step["flags"] == nlohmann::json::array({"--network=none"}));
    CHECK(run_step["args"] == nlohmann::json::array({"<<EOF"}));
    CHECK(run_step["heredocs"][0]["name"] == "EOF");
    CHECK(run_step["heredocs"][0]["content"] == "echo hi\n");
    CHECK(run_step["json"] == false);
    CHECK(instructions[2]["onbuild"]["keyword"] == "COPY");
    CHECK(instructions[2]["onbuild"]["args"] == nlohmann::json::array({"a", "b"}));
}

TEST_CASE("strata parse reports errors with position and exits 1", "[cli]") {
    const auto strata = binary();
    const auto empty = run(strata + " parse -f " + (parser_dir / "negative" / "empty_dockerfile" / "Dockerfile").string() +
                           " 2>&1");
    if (fs::is_directory(parser_dir)) {
        CHECK(empty.status == 1);
        CHECK_THAT(empty.text, Catch::Contains("strata: error: ") && Catch::Contains("Dockerfile:1:1: file with no instructions"));
    }
    const auto missing = run(strata + " parse -f /nonexistent/Buildfile 2>&1");
    CHECK(missing.status == 1);
    CHECK_THAT(missing.text, Catch::Contains("/nonexistent/Buildfile"));
    const auto bad_format = run(strata + " parse --format xml -f /dev/null 2>&1");
    CHECK(bad_format.status != 0);
    // The line level accepts an unknown instruction, as BuildKit's parser does; --check does not.
    const auto line_level = run("printf 'FROM a\\nRUNN x\\n' | " + strata + " parse -f - 2>&1");
    CHECK(line_level.status == 0);
    CHECK(line_level.text == "(from \"a\")\n(runn \"\")\n");
    const auto checked = run("printf 'FROM a\\nRUNN x\\n' | " + strata + " parse --check -f - 2>&1");
    CHECK(checked.status == 1);
    CHECK(checked.text == "strata: error: <stdin>:2:1: unknown instruction: RUNN (did you mean RUN?)\nRUNN x\n^\n");
}

} // namespace cli_parse_test
