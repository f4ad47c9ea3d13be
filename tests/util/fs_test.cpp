#include "util/fs.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <string>
#include <vector>

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
