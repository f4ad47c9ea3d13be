#include "builder/copy.hpp"
#include "builder/paths.hpp"
#include "tests/common/shell.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

namespace paths_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata::builder;
using strata::test::ScratchDir;
using strata::test::write_text;

TEST_CASE("clean_relative never climbs above the root", "[paths]") {
    CHECK(clean_relative("a/../b") == "b");
    CHECK(clean_relative("/x/y/") == "x/y");
    CHECK(clean_relative("../../etc/passwd") == "etc/passwd");
    CHECK(clean_relative(".").empty());
    CHECK(clean_relative("a/./b//c") == "a/b/c");
}

TEST_CASE("join_container_path resolves against the working directory", "[paths]") {
    CHECK(join_container_path("/src", "file") == "/src/file");
    CHECK(join_container_path("/src", "/abs") == "/abs");
    CHECK(join_container_path("", "x") == "/x");
    CHECK(join_container_path("/a/b", "../c") == "/a/c");
    CHECK(join_container_path("/", "../../..") == "/");
}

TEST_CASE("resolve_in_root keeps symlinks inside the root", "[paths]") {
    ScratchDir dir;
    const auto root = dir.path();
    write_text(root / "etc" / "passwd", "inside\n");
    REQUIRE(::symlink("/etc", (root / "abs-link").c_str()) == 0);
    REQUIRE(::symlink("../../../../etc", (root / "climb-link").c_str()) == 0);
    REQUIRE(::symlink("abs-link/passwd", (root / "chain").c_str()) == 0);
    CHECK(resolve_in_root(root, "abs-link/passwd", true) == root / "etc/passwd");
    CHECK(resolve_in_root(root, "climb-link/passwd", true) == root / "etc/passwd");
    CHECK(resolve_in_root(root, "chain", true) == root / "etc/passwd");
    CHECK(resolve_in_root(root, "chain", false) == root / "chain");
    CHECK(resolve_in_root(root, "../../etc/passwd", true) == root / "etc/passwd");

    REQUIRE(::symlink("loop", (root / "loop").c_str()) == 0);
    CHECK_THROWS_WITH(resolve_in_root(root, "loop", true), Catch::Contains("too many levels"));
}

TEST_CASE("match_sources expands wildcards within the root and names a missing pattern", "[copy]") {
    ScratchDir dir;
    write_text(dir.path() / "a.txt", "a");
    write_text(dir.path() / "b.txt", "b");
    write_text(dir.path() / "c.md", "c");
    write_text(dir.path() / "sub" / "d.txt", "d");
    auto matches = match_sources(dir.path(), "*.txt");
    REQUIRE(matches.size() == 2);
    CHECK(matches[0].path == dir.path() / "a.txt");
    CHECK(matches[1].path == dir.path() / "b.txt");
    CHECK(match_sources(dir.path(), "s?b/*.txt").size() == 1);
    CHECK(match_sources(dir.path(), "sub")[0].is_dir);
    CHECK_THROWS_WITH(match_sources(dir.path(), "nope*"), Catch::Contains("'nope*'"));
    CHECK_THROWS_WITH(match_sources(dir.path(), "../outside"), Catch::Contains("'../outside'"));
}

TEST_CASE("hash_source sees content, names and modes but not mtimes", "[copy]") {
    ScratchDir dir;
    write_text(dir.path() / "t" / "f", "one");
    const CopySource tree{"t", dir.path() / "t", "t", true};
    const auto first = hash_source(tree);
    REQUIRE(::system(("touch -d '2001-01-01' " + (dir.path() / "t" / "f").string()).c_str()) == 0);
    CHECK(hash_source(tree) == first);
    REQUIRE(::chmod((dir.path() / "t" / "f").c_str(), 0700) == 0);
    const auto mode_changed = hash_source(tree);
    CHECK(mode_changed != first);
    write_text(dir.path() / "t" / "f", "two");
    CHECK(hash_source(tree) != mode_changed);
}

TEST_CASE("copy_entry keeps modes and mtimes, copies links as links, owns files by root", "[copy]") {
    ScratchDir dir;
    write_text(dir.path() / "src" / "bin" / "tool", "#!/bin/sh\n");
    REQUIRE(::chmod((dir.path() / "src" / "bin" / "tool").c_str(), 0751) == 0);
    REQUIRE(::symlink("/etc/shadow", (dir.path() / "src" / "link").c_str()) == 0);
    REQUIRE(::system(("touch -h -d '2001-02-03 04:05:06Z' " + (dir.path() / "src" / "bin" / "tool").string()).c_str()) == 0);
    std::filesystem::create_directories(dir.path() / "dst");
    copy_entry(CopySource{"src", dir.path() / "src", "src", true}, dir.path() / "dst");

    struct stat st {};
    REQUIRE(::lstat((dir.path() / "dst" / "bin" / "tool").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0751);
    CHECK(st.st_mtim.tv_sec == 981173106);
    CHECK(st.st_uid == 0);
    REQUIRE(::lstat((dir.path() / "dst" / "link").c_str(), &st) == 0);
    CHECK(S_ISLNK(st.st_mode));
    CHECK(std::filesystem::read_symlink(dir.path() / "dst" / "link") == "/etc/shadow");
}

} // namespace paths_test
