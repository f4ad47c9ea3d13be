// Privileged integration tests: real namespaces, overlay mounts and cgroups, as root.
// Exits 77 (ctest SKIP_RETURN_CODE) with a printed reason when the machine lacks a
// capability these tests need; Catch2 v2 has no SKIP(), so the skip is per process.
#include "sandbox/probe.hpp"
#include "tests/common/catch_session.hpp"

#include <cstdio>

int main(int argc, char** argv) {
    const auto missing = strata::sandbox::missing_features();
    if (!missing.empty()) {
        std::printf("SKIPPED: privileged tests need %s\n", missing.c_str());
        return 77;
    }
    return strata::test::run_catch_session(argc, argv);
}
