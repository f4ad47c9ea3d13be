// write_tree_tar, the one tar writer behind layer blobs and `strata export`: a flattened
// tree is tarred with the layer's byte rules, and leaves out what overlay uses for deletions.
#include "helpers.hpp"

#include "store/tree_tar.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

namespace tree_export_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata;
using namespace strata::store;
using namespace strata::store::test;

namespace {

std::string tar_of(const fs::path& dir, TreeKind kind, const LayerOptions& options = {}) {
    std::string out;
    write_tree_tar(dir, [&out](const void* data, std::size_t size) { out.append(static_cast<const char*>(data), size); },
                   options, kind);
    return out;
}

std::vector<TarEntry> entries_of(const std::string& tar) {
    TempDir dir(test_tmp());
    write_text(dir.path() / "t.tar", tar);
    return read_tar(dir.path() / "t.tar");
}

std::vector<std::string> names(const std::vector<TarEntry>& entries) {
    std::vector<std::string> out;
    for (const auto& e : entries) out.push_back(e.path);
    return out;
}

void set_mtime(const fs::path& p, long long secs) {
    const timespec times[2] = {{secs, 0}, {secs, 0}};
    REQUIRE(::utimensat(AT_FDCWD, p.c_str(), times, AT_SYMLINK_NOFOLLOW) == 0);
}

} // namespace

TEST_CASE("a flattened tree is tarred byte for byte as its layer is", "[export]") {
    TempDir root(test_tmp()), tree(test_tmp());
    Store store(root.path());
    write_text(tree.path() / "etc/passwd", "root:x:0:0::/root:/bin/sh\n");
    write_text(tree.path() / "bin/tool", std::string(200000, 't'));
    fs::create_symlink("tool", tree.path() / "bin/link");
    fs::create_hard_link(tree.path() / "bin/tool", tree.path() / "bin/hard");
    for (const char* p : {"etc/passwd", "bin/tool", "bin/link", "bin", "etc"}) set_mtime(tree.path() / p, 1700000000);

    const std::string exported = tar_of(tree.path(), TreeKind::flattened);
    CHECK(exported == gunzip(read_file(store.blob_path(store.write_layer(tree.path()).descriptor.digest))));
    CHECK(exported == tar_of(tree.path(), TreeKind::flattened));  // and twice alike
    const auto entries = entries_of(exported);
    CHECK(names(entries) == std::vector<std::string>{"bin/", "bin/hard", "bin/link", "bin/tool", "etc/", "etc/passwd"});
    for (const auto& e : entries) {
        CHECK(e.uname.empty());
        CHECK_FALSE(e.atime_set);
        CHECK_FALSE(e.ctime_set);
    }
}

TEST_CASE("a flattened tree leaves out overlay's whiteouts and opaque markers", "[export]") {
    if (::geteuid() != 0) {
        WARN("not root: whiteout devices and trusted.* xattrs cannot be made; skipped");
        return;
    }
    TempDir work(test_tmp()), snapshot(test_tmp());
    // A one-layer view is the snapshot itself, in overlay format: unpack a layer with a
    // deletion and an opaque directory into one, as the store does.
    write_tar(work.path() / "layer.tar",
              {tar_reg(".wh.gone"), tar_dir("o"), tar_reg("o/.wh..wh..opq"), tar_reg("o/new", "n"), tar_reg("kept", "k")});
    unpack_layer(work.path() / "layer.tar", "", snapshot.path(), WhiteoutMode::overlay);
    struct stat st {};
    REQUIRE(::lstat((snapshot.path() / "gone").c_str(), &st) == 0);
    REQUIRE((S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)));

    const auto layer = names(entries_of(tar_of(snapshot.path(), TreeKind::overlay_layer)));
    CHECK(layer == std::vector<std::string>{".wh.gone", "kept", "o/", "o/.wh..wh..opq", "o/new"});
    const auto flat = entries_of(tar_of(snapshot.path(), TreeKind::flattened));
    CHECK(names(flat) == std::vector<std::string>{"kept", "o/", "o/new"});
    CHECK(flat[1].xattrs.empty());  // no trusted.overlay.opaque either
}

TEST_CASE("write_tree_tar throws the sink's own error", "[export]") {
    TempDir tree(test_tmp());
    write_text(tree.path() / "f", std::string(100000, 'x'));
    const auto failing = [](const void*, std::size_t) { throw Error("write 'stdout': Broken pipe"); };
    CHECK_THROWS_WITH(write_tree_tar(tree.path(), failing, {}, TreeKind::flattened), "write 'stdout': Broken pipe");
}

TEST_CASE("write_tree_tar refuses a name a layer reader would take for a deletion", "[export]") {
    TempDir tree(test_tmp());
    write_text(tree.path() / "d/.wh.x", "");
    CHECK_THROWS_WITH(tar_of(tree.path(), TreeKind::flattened), Catch::Contains(".wh.x") && Catch::Contains("reserved"));
}

} // namespace tree_export_test
