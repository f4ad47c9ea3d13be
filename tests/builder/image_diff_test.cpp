// diff_trees on plain directories: what counts as added, deleted and changed, the order,
// and the text and JSON the CLI prints.
#include "builder/image_diff.hpp"
#include "tests/common/shell.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

namespace image_diff_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata;
using strata::test::ScratchDir;
using strata::test::write_text;
using json = nlohmann::ordered_json;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> lines(const std::vector<builder::Change>& changes) {
    std::vector<std::string> out;
    for (const auto& c : changes) out.push_back(builder::format_change(c));
    return out;
}

struct Trees {
    ScratchDir dir;
    fs::path before = dir.path() / "before";
    fs::path after = dir.path() / "after";
    Trees() {
        fs::create_directories(before);
        fs::create_directories(after);
    }
    // The same file on both sides (separate inodes, so contents are read).
    void both(const std::string& rel, const std::string& data) {
        write_text(before / rel, data);
        write_text(after / rel, data);
    }
};

} // namespace

TEST_CASE("diff_trees lists additions, deletions and changes sorted by path", "[diff]") {
    Trees t;
    t.both("etc/passwd", "root:x:0:0\n");
    write_text(t.after / "etc/passwd", "root:x:0:0\nuser:x:1000:1000\n");  // grows
    t.both("etc/same-size", "aaaa");
    write_text(t.after / "etc/same-size", "bbbb");  // same size, other bytes
    t.both("etc/untouched", "same");
    t.both("bin/tool", "#!/bin/sh\n");
    fs::permissions(t.before / "bin/tool", fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                                               fs::perms::others_read);
    fs::permissions(t.after / "bin/tool", fs::perms::owner_all);
    write_text(t.before / "gone/inner/file", "12345");
    write_text(t.after / "new/file", "1");
    fs::create_symlink("a", t.before / "link");
    fs::create_symlink("b", t.after / "link");
    write_text(t.before / "was-file", "x");
    fs::create_directories(t.after / "was-file");
    write_text(t.after / "was-file/child", "xy");
    write_text(t.after / "etc-a", "");  // sorts between "etc" and "etc/..." bytewise

    CHECK(lines(builder::diff_trees(t.before, t.after)) == std::vector<std::string>{
                                                               "C /bin/tool (10 bytes; mode 0644 -> 0700)",
                                                               "A /etc-a (0 bytes)",
                                                               "C /etc/passwd (11 -> 28 bytes)",
                                                               "C /etc/same-size (4 bytes; content)",
                                                               "D /gone (directory)",
                                                               "D /gone/inner (directory)",
                                                               "D /gone/inner/file (5 bytes)",
                                                               "C /link (symlink to a -> symlink to b)",
                                                               "A /new (directory)",
                                                               "A /new/file (1 byte)",
                                                               "C /was-file (1 byte -> directory)",
                                                               "A /was-file/child (2 bytes)",
                                                           });
    // The other way round, additions and deletions swap.
    const auto back = builder::diff_trees(t.after, t.before);
    CHECK(std::count_if(back.begin(), back.end(), [](const auto& c) { return c.kind == 'A'; }) == 3);
    CHECK(std::count_if(back.begin(), back.end(), [](const auto& c) { return c.kind == 'D'; }) == 4);
}

TEST_CASE("diff_trees sees owners and xattrs, not mtimes", "[diff]") {
    Trees t;
    t.both("f", "data");
    const timespec old_times[2] = {{1000, 0}, {1000, 0}};
    REQUIRE(::utimensat(AT_FDCWD, (t.before / "f").c_str(), old_times, 0) == 0);
    CHECK(builder::diff_trees(t.before, t.after).empty());  // a touched file is not a change

    if (::geteuid() == 0) {
        REQUIRE(::chown((t.after / "f").c_str(), 1000, 1001) == 0);
        CHECK(lines(builder::diff_trees(t.before, t.after)) ==
              std::vector<std::string>{"C /f (4 bytes; owner 0:0 -> 1000:1001)"});
        REQUIRE(::chown((t.after / "f").c_str(), 0, 0) == 0);
    } else {
        WARN("not root: owner changes not tested");
    }
    if (::setxattr((t.after / "f").c_str(), "user.k", "v", 1, 0) == 0) {
        CHECK(lines(builder::diff_trees(t.before, t.after)) == std::vector<std::string>{"C /f (4 bytes; xattrs)"});
    } else {
        WARN("user xattrs unsupported here; xattr changes not tested");
    }
}

TEST_CASE("changes as JSON: before, after and what changed", "[diff]") {
    Trees t;
    t.both("a", "1");
    write_text(t.after / "a", "22");
    fs::create_symlink("target", t.after / "l");
    const json out = builder::changes_json(builder::diff_trees(t.before, t.after));
    REQUIRE(out["changes"].size() == 2);
    const json& changed = out["changes"][0];
    CHECK(changed["change"] == "C");
    CHECK(changed["path"] == "/a");
    CHECK(changed["before"]["size"] == 1);
    CHECK(changed["after"]["size"] == 2);
    CHECK(changed["after"]["mode"] == "0644");
    CHECK(changed["changed"] == json::array({"size"}));
    const json& added = out["changes"][1];
    CHECK(added["change"] == "A");
    CHECK(added["after"]["type"] == "symlink");
    CHECK(added["after"]["target"] == "target");
    CHECK_FALSE(added.contains("before"));
    CHECK_FALSE(added.contains("changed"));
    CHECK(out.dump().starts_with(R"({"changes":[{"change":"C","path":"/a","before":{"type":"file","mode":"0644")"));
}

} // namespace image_diff_test
