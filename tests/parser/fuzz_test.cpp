// Runs the parser's libFuzzer target (built by parser/CMakeLists.txt when clang is present)
// for a bounded time, seeded with BuildKit's parser cases. A crash, a sanitizer report or
// an exception other than strata::Error makes it exit non-zero.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

namespace fuzz_test {  // this file's own names: a folder's tests compile as unity batches

namespace fs = std::filesystem;

TEST_CASE("the parser survives 15 seconds of fuzzing", "[fuzz]") {
    const fs::path fuzzer = fs::path(STRATA_BINARY).parent_path().parent_path() / "parser" / "strata_parser_fuzzer";
    if (!fs::exists(fuzzer)) {
        WARN("no fuzzer at " << fuzzer << " (clang++ not found at configure time); skipping");
        return;
    }
    const fs::path corpus = fs::temp_directory_path() / ("strata-fuzz-corpus-" + std::to_string(::getpid()));
    fs::create_directories(corpus);
    const fs::path seeds = STRATA_CONFORMANCE_DIR "/buildkit-parser/positive";
    if (fs::is_directory(seeds)) {
        for (const auto& entry : fs::directory_iterator(seeds)) {
            fs::copy_file(entry.path() / "Dockerfile", corpus / entry.path().filename());
        }
    }
    const std::string command = fuzzer.string() + " -max_total_time=15 -seed=1 -rss_limit_mb=2048 -max_len=8192 -artifact_prefix=" + (fs::temp_directory_path() / "strata-parser-fuzz-").string() + " -dict=" +
                                STRATA_SOURCE_DIR "/parser/fuzz/dockerfile.dict " + corpus.string() + " 2>&1";
    FILE* pipe = ::popen(command.c_str(), "r");
    REQUIRE(pipe != nullptr);
    std::string output;
    char buffer[4096];
    while (const std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) {
        output.append(buffer, n);
        if (output.size() > 1'000'000) {
            output.erase(0, output.size() - 100'000);  // keep the tail, where a finding is reported
        }
    }
    const int status = ::pclose(pipe);
    fs::remove_all(corpus);
    INFO(output.substr(output.size() > 4000 ? output.size() - 4000 : 0));
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK_THAT(output, Catch::Contains("Done "));
}

} // namespace fuzz_test
