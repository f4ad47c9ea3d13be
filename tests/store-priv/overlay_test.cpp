// Overlay-format snapshots: 0:0 char devices and trusted.overlay.* xattrs need root.
#include "../store/helpers.hpp"

#include "util/sha256.hpp"

#include <catch2/catch.hpp>

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

namespace overlay_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata;
using namespace strata::store;
using namespace strata::store::test;

namespace {

void make_whiteout(const fs::path& p) { REQUIRE(::mknod(p.c_str(), S_IFCHR | 0, makedev(0, 0)) == 0); }

void set_xattr(const fs::path& p, const char* name, const std::string& value) {
    REQUIRE(::lsetxattr(p.c_str(), name, value.data(), value.size(), 0) == 0);
}

std::optional<std::string> get_xattr(const fs::path& p, const char* name) {
    char buf[256];
    const ssize_t n = ::lgetxattr(p.c_str(), name, buf, sizeof buf);
    if (n < 0) return std::nullopt;
    return std::string(buf, static_cast<std::size_t>(n));
}

bool is_whiteout(const fs::path& p) {
    struct stat st {};
    return ::lstat(p.c_str(), &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0);
}

// A read-only view of snapshots (topmost first), unmounted on destruction.
class OverlayMount {
public:
    OverlayMount(const std::vector<fs::path>& lowers, const fs::path& scratch) : merged_(scratch / "merged") {
        fs::create_directories(merged_);
        fs::create_directories(scratch / "upper");
        fs::create_directories(scratch / "work");
        std::string opts = "lowerdir=";
        for (std::size_t i = 0; i < lowers.size(); ++i) opts += (i ? ":" : "") + lowers[i].string();
        opts += ",upperdir=" + (scratch / "upper").string() + ",workdir=" + (scratch / "work").string() +
                ",redirect_dir=off,metacopy=off,index=off";
        if (::mount("overlay", merged_.c_str(), "overlay", 0, opts.c_str()) != 0) throw_errno("mount overlay", merged_.string());
    }
    ~OverlayMount() { ::umount2(merged_.c_str(), MNT_DETACH); }
    OverlayMount(const OverlayMount&) = delete;
    OverlayMount& operator=(const OverlayMount&) = delete;
    const fs::path& path() const { return merged_; }

private:
    fs::path merged_;
};

} // namespace

TEST_CASE("overlay-format whiteouts round-trip: dir -> tar entries -> unpack -> same dir", "[overlay]") {
    TempDir root(test_tmp()), tree(test_tmp()), out(test_tmp());
    Store store(root.path());
    make_whiteout(tree.path() / "gone");
    REQUIRE(::link((tree.path() / "gone").c_str(), (tree.path() / "gone-too").c_str()) == 0);  // overlay shares whiteout inodes
    fs::create_directories(tree.path() / "opq");
    write_text(tree.path() / "opq/new", "n");
    set_xattr(tree.path() / "opq", "trusted.overlay.opaque", "y");
    write_text(tree.path() / "file", "f");
    set_xattr(tree.path() / "file", "trusted.overlay.origin", "whatever");
    set_xattr(tree.path() / "file", "user.keep", "k");
    set_xattr(tree.path() / "file", "security.capability", std::string("\x01\x00\x00\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 20));

    const Layer layer = store.write_layer(tree.path());
    const auto entries = read_tar(store.blob_path(layer.descriptor.digest));
    std::vector<std::string> names;
    for (const auto& e : entries) names.push_back(e.path);
    CHECK(names == std::vector<std::string>{"file", ".wh.gone", ".wh.gone-too", "opq/", "opq/.wh..wh..opq", "opq/new"});
    for (const auto& e : entries) {
        if (e.path.find(".wh.") == std::string::npos) continue;
        CHECK(e.type == AE_IFREG);
        CHECK(e.data.empty());
        CHECK(e.hardlink.empty());
    }
    CHECK(entries[0].xattrs.count("user.keep") == 1);
    CHECK(entries[0].xattrs.count("security.capability") == 1);
    CHECK(entries[0].xattrs.count("trusted.overlay.origin") == 0);
    for (const auto& e : entries) {
        for (const auto& [name, value] : e.xattrs) CHECK_FALSE(std::string_view(name).starts_with("trusted."));
    }

    CHECK(unpack_layer(store.blob_path(layer.descriptor.digest), layer.descriptor.media_type, out.path()) == layer.diff_id);
    CHECK(is_whiteout(out.path() / "gone"));
    CHECK(is_whiteout(out.path() / "gone-too"));
    CHECK(get_xattr(out.path() / "opq", "trusted.overlay.opaque") == std::string("y"));
    CHECK_FALSE(fs::exists(out.path() / "opq/.wh..wh..opq"));
    CHECK(read_file(out.path() / "opq/new") == "n");
    CHECK(get_xattr(out.path() / "file", "user.keep") == std::string("k"));
    CHECK_FALSE(get_xattr(out.path() / "file", "trusted.overlay.origin"));
    CHECK(store.write_layer(out.path()).diff_id == layer.diff_id);
}

TEST_CASE("a layer cannot plant trusted.* xattrs", "[overlay][security]") {
    TempDir root(test_tmp()), tree(test_tmp()), out(test_tmp());
    Store store(root.path());
    // Build a tar by hand that carries trusted.overlay.opaque on a plain directory.
    fs::create_directories(tree.path() / "d");
    set_xattr(tree.path() / "d", "trusted.overlay.redirect", "/etc");
    set_xattr(tree.path() / "d", "user.ok", "1");
    const fs::path tar = tree.path().parent_path() / (tree.path().filename().string() + ".tar");
    {
        std::unique_ptr<archive, int (*)(archive*)> a(archive_write_new(), archive_write_free);
        archive_write_set_format_pax_restricted(a.get());
        REQUIRE(archive_write_open_filename(a.get(), tar.c_str()) == ARCHIVE_OK);
        std::unique_ptr<archive_entry, void (*)(archive_entry*)> e(archive_entry_new(), archive_entry_free);
        archive_entry_set_pathname(e.get(), "d");
        archive_entry_set_filetype(e.get(), AE_IFDIR);
        archive_entry_set_perm(e.get(), 0755);
        archive_entry_xattr_add_entry(e.get(), "trusted.overlay.opaque", "y", 1);
        archive_entry_xattr_add_entry(e.get(), "user.ok", "1", 1);
        REQUIRE(archive_write_header(a.get(), e.get()) == ARCHIVE_OK);
        archive_write_close(a.get());
    }
    unpack_layer(tar, media::layer_tar, out.path());
    fs::remove(tar);
    CHECK(get_xattr(out.path() / "d", "user.ok") == std::string("1"));
    CHECK_FALSE(get_xattr(out.path() / "d", "trusted.overlay.opaque"));
}

namespace {

// Unpacks a `docker save` tarball's layers into chained snapshots of `store`, then
// returns the tree an overlay mount of them shows.
std::map<std::string, std::string> mount_docker_save(Store& store, const fs::path& tarball) {
    TempDir extracted(test_tmp()), scratch(test_tmp());
    unpack_layer(tarball, "", extracted.path(), WhiteoutMode::apply);
    const json manifest = json::parse(read_file(extracted.path() / "manifest.json"));
    const json config = json::parse(read_file(extracted.path() / manifest[0]["Config"].get<std::string>()));
    std::vector<std::string> diff_ids;
    for (const auto& id : config["rootfs"]["diff_ids"]) diff_ids.push_back(id.get<std::string>());
    const auto chains = chain_ids(diff_ids);
    const auto& layers = manifest[0]["Layers"];
    REQUIRE(layers.size() == chains.size());
    std::vector<fs::path> lowers;  // topmost first
    for (std::size_t i = 0; i < layers.size(); ++i) {
        TempDir staging = store.new_snapshot_staging();
        CHECK(unpack_layer(extracted.path() / layers[i].get<std::string>(), "", staging.path()) == diff_ids[i]);
        lowers.insert(lowers.begin(), store.commit_snapshot(std::move(staging), chains[i]));
    }
    OverlayMount mount(lowers, scratch.path());
    return tree_listing(mount.path());
}

} // namespace

TEST_CASE("ggcr whiteout tarballs as chained snapshots under overlay", "[overlay][conformance]") {
    const fs::path conf = conformance_dir();
    if (conf.empty()) return;
    const fs::path dir = conf / "ggcr-testdata/whiteout";
    TempDir root(test_tmp());
    Store store(root.path());
    CHECK(mount_docker_save(store, dir / "whiteout_image.tar") == std::map<std::string, std::string>{{"bar.txt", "bar\n"}});
    CHECK(mount_docker_save(store, dir / "whiteout_dir.tar") ==
          std::map<std::string, std::string>{{"a", ""}, {"a/baz", ""}, {"b", ""}, {"b/bar", ""}});
    CHECK(mount_docker_save(store, dir / "overwritten_file.tar") ==
          std::map<std::string, std::string>{{"bar.txt", "bar\n"}, {"foo.txt", "-> bar.txt"}});
}

TEST_CASE("a cloned snapshot has the same files, linked, and tars to the same diff", "[overlay][snapshot]") {
    TempDir root(test_tmp());
    Store store(root.path());
    TempDir staging = store.new_snapshot_staging();
    const fs::path tree = staging.path();
    make_whiteout(tree / "gone");
    fs::create_directories(tree / "opq" / "deeper");
    write_text(tree / "opq" / "deeper" / "new", "n");
    set_xattr(tree / "opq", "trusted.overlay.opaque", "y");
    write_text(tree / "file", "f");
    set_xattr(tree / "file", "user.keep", "k");
    fs::create_symlink("file", tree / "link");
    REQUIRE(::chown((tree / "opq").c_str(), 123, 456) == 0);
    REQUIRE(::chmod((tree / "opq").c_str(), 0751) == 0);
    const struct timespec old_times[2] = {{1000, 0}, {2000, 5}};
    REQUIRE(::utimensat(AT_FDCWD, (tree / "opq").c_str(), old_times, 0) == 0);
    const std::string from = sha256_digest("from"), to = sha256_digest("to");
    const fs::path original = store.commit_snapshot(std::move(staging), from);
    const std::string diff_id = store.write_layer(original).diff_id;

    const fs::path clone = store.clone_snapshot(from, to);
    CHECK(clone == store.snapshot_dir(to));
    CHECK(store.has_snapshot(to));
    CHECK(store.write_layer(clone).diff_id == diff_id);  // the same layer, to the byte
    struct stat a {}, b {};
    REQUIRE(::lstat((original / "file").c_str(), &a) == 0);
    REQUIRE(::lstat((clone / "file").c_str(), &b) == 0);
    CHECK(a.st_ino == b.st_ino);  // linked, not copied
    CHECK(is_whiteout(clone / "gone"));
    CHECK(fs::read_symlink(clone / "link") == "file");
    CHECK(get_xattr(clone / "opq", "trusted.overlay.opaque") == std::string("y"));
    CHECK(get_xattr(clone / "file", "user.keep") == std::string("k"));
    REQUIRE(::lstat((clone / "opq").c_str(), &b) == 0);
    CHECK(b.st_uid == 123);
    CHECK(b.st_gid == 456);
    CHECK((b.st_mode & 07777) == 0751);
    CHECK(b.st_mtim.tv_sec == 2000);
    CHECK(b.st_mtim.tv_nsec == 5);
    REQUIRE(::lstat(clone.c_str(), &b) == 0);
    CHECK((b.st_mode & 07777) == 0755);

    // The clone outlives the snapshot it came from.
    fs::remove_all(original);
    CHECK(read_file(clone / "opq" / "deeper" / "new") == "n");
}

} // namespace overlay_test
