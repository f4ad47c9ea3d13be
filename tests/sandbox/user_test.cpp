// resolve_user against passwd and group files in temporary layers.
#include <catch2/catch.hpp>

#include "sandbox/sandbox.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

#include <sys/stat.h>
#include <sys/sysmacros.h>

namespace user_test {  // this file's own names: a folder's tests compile as unity batches

namespace fs = std::filesystem;
using namespace strata;
using namespace strata::sandbox;

namespace {

struct Layers {
    TempDir top{fs::temp_directory_path(), "layer-top-"};
    TempDir bottom{fs::temp_directory_path(), "layer-bottom-"};

    Layers() {
        make_dirs(bottom.path() / "etc");
        write_file_atomic(bottom.path() / "etc/passwd",
                          "root:x:0:0:root:/root:/bin/sh\n"
                          "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
                          "app:x:1000:1000::/home/app:/bin/sh\n"
                          "broken line\n");
        write_file_atomic(bottom.path() / "etc/group",
                          "root:x:0:root\n"
                          "daemon:x:1:root\n"
                          "app:x:1000:\n"
                          "audio:x:29:app,other\n"
                          "video:x:44:other,app\n");
        make_dirs(top.path() / "etc");
    }
    std::vector<fs::path> dirs() const { return {top.path(), bottom.path()}; }
};

} // namespace

TEST_CASE("resolve_user: names and ids", "[user]") {
    Layers layers;
    const auto dirs = layers.dirs();

    auto user = resolve_user("", dirs);
    CHECK(user.uid == 0);
    CHECK(user.gid == 0);
    CHECK(user.groups == std::vector<std::uint32_t>{0, 1});

    user = resolve_user("app", dirs);
    CHECK(user.uid == 1000);
    CHECK(user.gid == 1000);
    CHECK(user.groups == std::vector<std::uint32_t>{29, 44});

    user = resolve_user("1000", dirs);  // a known uid gets that user's groups
    CHECK(user.gid == 1000);
    CHECK(user.groups == std::vector<std::uint32_t>{29, 44});

    user = resolve_user("4242", dirs);  // an unknown uid is fine: group 0, no groups
    CHECK(user.uid == 4242);
    CHECK(user.gid == 0);
    CHECK(user.groups.empty());

    user = resolve_user("app:audio", dirs);  // an explicit group: no supplementary groups
    CHECK(user.uid == 1000);
    CHECK(user.gid == 29);
    CHECK(user.groups.empty());

    user = resolve_user("1000:7", dirs);
    CHECK(user.uid == 1000);
    CHECK(user.gid == 7);

    user = resolve_user("55:video", dirs);
    CHECK(user.uid == 55);
    CHECK(user.gid == 44);
}

TEST_CASE("resolve_user: docker's errors for unknown names", "[user]") {
    Layers layers;
    CHECK_THROWS_WITH(resolve_user("nobody", layers.dirs()), "unable to find user nobody: no matching entries in passwd file");
    CHECK_THROWS_WITH(resolve_user("app:staff", layers.dirs()),
                      "unable to find group staff: no matching entries in group file");
    // Numeric ids need no files at all.
    const auto user = resolve_user("12:34", {});
    CHECK(user.uid == 12);
    CHECK(user.gid == 34);
    CHECK_THROWS_WITH(resolve_user("app", {}), "unable to find user app: no matching entries in passwd file");
}

TEST_CASE("resolve_user: the topmost layer with the file wins, and deletions hide lower ones", "[user]") {
    Layers layers;
    write_file_atomic(layers.top.path() / "etc/passwd", "app:x:2000:2000::/:/bin/sh\n");
    auto user = resolve_user("app", layers.dirs());
    CHECK(user.uid == 2000);
    CHECK(user.groups == std::vector<std::uint32_t>{29, 44});  // etc/group still from the bottom

    fs::remove(layers.top.path() / "etc/passwd");
    REQUIRE(::mknod((layers.top.path() / "etc/passwd").c_str(), S_IFCHR | 0600, makedev(0, 0)) == 0);
    CHECK_THROWS_WITH(resolve_user("app", layers.dirs()), "unable to find user app: no matching entries in passwd file");
}

TEST_CASE("resolve_user: symlinked files are not followed out of the layer", "[user]") {
    Layers layers;
    fs::create_symlink(layers.bottom.path() / "etc/passwd", layers.top.path() / "etc/passwd");
    // The symlink is skipped, and the bottom layer's own file is read.
    CHECK(resolve_user("app", layers.dirs()).uid == 1000);
    fs::remove(layers.bottom.path() / "etc/passwd");
    fs::create_symlink("/etc/passwd", layers.bottom.path() / "etc/passwd");
    CHECK_THROWS_WITH(resolve_user("root", {layers.bottom.path()}), "unable to find user root: no matching entries in passwd file");
}

} // namespace user_test
