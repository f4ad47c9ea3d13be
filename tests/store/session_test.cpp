// A store's scratch space belongs to one process at a time and is swept once its owner is gone.
#include "store/store.hpp"
#include "tests/common/shell.hpp"

#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

namespace session_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata;
using strata::test::ScratchDir;

namespace {

std::size_t count_entries(const std::filesystem::path& dir) {
    return static_cast<std::size_t>(std::distance(std::filesystem::directory_iterator(dir), {}));
}

} // namespace

TEST_CASE("each store has its own scratch dir, removed when the store goes", "[store][session]") {
    ScratchDir dir;
    std::filesystem::path scratch;
    {
        store::Store a(dir.path());
        store::Store b(dir.path());
        scratch = a.tmp_dir();
        CHECK(std::filesystem::is_directory(scratch));
        CHECK(a.tmp_dir() != b.tmp_dir());
        CHECK(scratch.parent_path() == dir.path() / "tmp");
        // A live store's session is not swept by another one opening.
        store::Store c(dir.path());
        CHECK(std::filesystem::exists(a.tmp_dir()));
        CHECK(std::filesystem::exists(b.tmp_dir()));
    }
    CHECK_FALSE(std::filesystem::exists(scratch));
    CHECK(count_entries(dir.path() / "tmp") == 0);
}

TEST_CASE("the scratch dir of a killed process is removed by the next store opened", "[store][session]") {
    ScratchDir dir;
    { store::Store init(dir.path()); }
    int ready[2];
    REQUIRE(::pipe(ready) == 0);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        store::Store s(dir.path());
        strata::test::write_text(s.tmp_dir() / "staging" / "half-written", "x");
        const char byte = 1;
        (void)::write(ready[1], &byte, 1);
        ::pause();  // killed below, with no chance to clean up
        ::_exit(0);
    }
    char byte = 0;
    REQUIRE(::read(ready[0], &byte, 1) == 1);
    CHECK(count_entries(dir.path() / "tmp") == 2);  // the dead-to-be process's dir and lock
    REQUIRE(::kill(child, SIGKILL) == 0);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    ::close(ready[0]);
    ::close(ready[1]);

    CHECK(store::remove_abandoned_sessions(dir.path() / "tmp") == 1);
    CHECK(count_entries(dir.path() / "tmp") == 0);
}

} // namespace session_test
