#include "util/fs.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>
#include <string>
#include <vector>

namespace fs_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata;

TEST_CASE("DirNames lists a directory sorted bytewise, without . and ..", "[fs]") {
    TempDir dir(fs::temp_directory_path(), "dirnames-");
    for (const char* name : {"b", "a.txt", "a", "B", "-x", ".hidden"}) std::ofstream(dir.path() / name) << name;
    fs::create_directory(dir.path() / "sub");
    CHECK(sorted_dir_names(dir.path()) == std::vector<std::string>{"-x", ".hidden", "B", "a", "a.txt", "b", "sub"});

    TempDir empty(fs::temp_directory_path(), "dirnames-empty-");
    CHECK(sorted_dir_names(empty.path()).empty());
}

TEST_CASE("DirNames reads directories larger than one getdents64 buffer", "[fs]") {
    TempDir dir(fs::temp_directory_path(), "dirnames-big-");
    std::vector<std::string> expected;
    // 3000 names of 40 bytes: about 170 KB of dirents, several reads of the 32 KiB buffer.
    for (int i = 2999; i >= 0; --i) {
        std::string name = std::to_string(i);
        name.insert(0, 40 - name.size(), 'n');
        std::ofstream(dir.path() / name).put('x');
        expected.push_back(name);
    }
    std::sort(expected.begin(), expected.end());
    DirNames names;
    names.read(dir.path());
    REQUIRE(names.size() == expected.size());
    for (std::size_t i = 0; i < names.size(); ++i) {
        CHECK(names[i] == expected[i]);
        CHECK(std::string(names.c_str(i)) == expected[i]);
    }
}

TEST_CASE("DirNames names the directory it cannot read", "[fs]") {
    CHECK_THROWS_WITH(sorted_dir_names("/nonexistent-strata-dir"), Catch::Contains("/nonexistent-strata-dir"));
}

TEST_CASE("relative_components keeps an entry name inside its root", "[fs]") {
    using V = std::vector<std::string>;
    CHECK(relative_components("./a//b/", "layer") == V{"a", "b"});
    CHECK(relative_components("./", "layer").empty());
    CHECK(relative_components("a/./b", "layer") == V{"a", "b"});
    CHECK(relative_components("..a/b..", "layer") == V{"..a", "b.."});  // only ".." itself climbs
    CHECK_THROWS_WITH(relative_components("/etc/passwd", "layer"), Catch::Contains("absolute") && Catch::Contains("layer"));
    CHECK_THROWS_WITH(relative_components("a/../../b", "destination"), Catch::Contains("'..'") && Catch::Contains("destination"));
}

TEST_CASE("copy_tree copies as cp -a: content, modes, times, links, fifos, hard links", "[fs]") {
    TempDir from(fs::temp_directory_path(), "copytree-from-"), to(fs::temp_directory_path(), "copytree-to-");
    fs::create_directories(from.path() / "d" / "e");
    std::ofstream(from.path() / "d" / "e" / "f") << "content";
    REQUIRE(::chmod((from.path() / "d" / "e" / "f").c_str(), 0751) == 0);
    REQUIRE(::link((from.path() / "d" / "e" / "f").c_str(), (from.path() / "hard").c_str()) == 0);
    fs::create_symlink("d/e/f", from.path() / "sym");
    REQUIRE(::mkfifo((from.path() / "fifo").c_str(), 0640) == 0);
    const struct timespec times[2] = {{100, 0}, {200, 7}};
    REQUIRE(::utimensat(AT_FDCWD, (from.path() / "d").c_str(), times, 0) == 0);

    copy_tree(from.path(), to.path());
    CHECK(read_file(to.path() / "d" / "e" / "f") == "content");
    struct stat f {}, hard {}, d {}, fifo {};
    REQUIRE(::lstat((to.path() / "d" / "e" / "f").c_str(), &f) == 0);
    REQUIRE(::lstat((to.path() / "hard").c_str(), &hard) == 0);
    CHECK((f.st_mode & 07777) == 0751);
    CHECK(f.st_ino == hard.st_ino);  // still one file
    CHECK(fs::read_symlink(to.path() / "sym") == "d/e/f");
    REQUIRE(::lstat((to.path() / "fifo").c_str(), &fifo) == 0);
    CHECK(S_ISFIFO(fifo.st_mode));
    REQUIRE(::lstat((to.path() / "d").c_str(), &d) == 0);
    CHECK(d.st_mtim.tv_sec == 200);
    CHECK(d.st_mtim.tv_nsec == 7);
}

} // namespace fs_test
