// The entries that make a layer's tar hard to keep deterministic: hard links, sparse files,
// xattrs (security.capability needs root to set), sockets and fifos. Each tree is made
// twice in different orders (or shapes) and must tar to the same bytes.
#include "../store/helpers.hpp"

#include "store/layer_compare.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

namespace layer_entries_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata;
using namespace strata::store;
using namespace strata::store::test;

namespace {

constexpr long long epoch = 1700000000;

std::string tar_of(const Store& store, const Layer& layer) { return gunzip(read_file(store.blob_path(layer.descriptor.digest))); }

const TarEntry& entry(const std::vector<TarEntry>& entries, const std::string& path) {
    const auto it = std::find_if(entries.begin(), entries.end(), [&](const TarEntry& e) { return e.path == path; });
    REQUIRE(it != entries.end());
    return *it;
}

void set_xattr(const fs::path& p, const std::string& name, const std::string& value) {
    REQUIRE(::lsetxattr(p.c_str(), name.c_str(), value.data(), value.size(), 0) == 0);
}

// A version 2 file capability (struct vfs_cap_data) granting cap_net_bind_service, effective.
std::string net_bind_capability() {
    std::uint32_t words[5] = {0x02000000u | 0x1u, 1u << 10, 0, 0, 0};
    return std::string(reinterpret_cast<const char*>(words), sizeof words);
}

// A unix socket bound at path; the socket file stays after the fd is closed.
void make_socket(const fs::path& path) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    REQUIRE(path.string().size() < sizeof addr.sun_path);
    std::strcpy(addr.sun_path, path.c_str());
    const int rc = ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    ::close(fd);
    REQUIRE(rc == 0);
}

} // namespace

TEST_CASE("hard links point to the first path in tar order, whichever was made first", "[layer][determinism]") {
    TempDir root(test_tmp()), t1(test_tmp()), t2(test_tmp());
    Store store(root.path());
    // t1 makes z/f first and links the others to it; t2 starts from a/f.
    write_text(t1.path() / "z" / "f", "shared\n");
    fs::create_directories(t1.path() / "a");
    fs::create_directories(t1.path() / "m");
    fs::create_hard_link(t1.path() / "z" / "f", t1.path() / "m" / "f");
    fs::create_hard_link(t1.path() / "z" / "f", t1.path() / "a" / "f");
    write_text(t2.path() / "a" / "f", "shared\n");
    fs::create_directories(t2.path() / "m");
    fs::create_directories(t2.path() / "z");
    fs::create_hard_link(t2.path() / "a" / "f", t2.path() / "z" / "f");
    fs::create_hard_link(t2.path() / "a" / "f", t2.path() / "m" / "f");
    // A file whose other link is outside the tree (a lower layer, COPY --link) is plain data.
    TempDir outside(test_tmp());
    write_text(t1.path() / "solo", "solo\n");
    write_text(t2.path() / "solo", "solo\n");
    fs::create_hard_link(t1.path() / "solo", outside.path() / "other");

    const Layer l1 = store.write_layer(t1.path(), LayerOptions{epoch});
    const Layer l2 = store.write_layer(t2.path(), LayerOptions{epoch});
    CHECK(l1.diff_id == l2.diff_id);
    const auto entries = read_tar(store.blob_path(l1.descriptor.digest));
    CHECK(entry(entries, "a/f").hardlink.empty());
    CHECK(entry(entries, "a/f").data == "shared\n");
    CHECK(entry(entries, "m/f").hardlink == "a/f");
    CHECK(entry(entries, "z/f").hardlink == "a/f");
    CHECK(entry(entries, "solo").hardlink.empty());
    CHECK(entry(entries, "solo").data == "solo\n");
}

TEST_CASE("a sparse file is written as plain data, as its dense twin is", "[layer][determinism]") {
    TempDir root(test_tmp()), sparse(test_tmp()), dense(test_tmp());
    Store store(root.path());
    constexpr off_t hole = 3 * 1024 * 1024;
    {
        const int fd = ::open((sparse.path() / "f").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        REQUIRE(fd >= 0);
        CHECK(::pwrite(fd, "end", 3, hole) == 3);
        ::close(fd);
    }
    struct stat st {};
    REQUIRE(::stat((sparse.path() / "f").c_str(), &st) == 0);
    if (st.st_blocks * 512 >= hole) WARN("this filesystem made no hole; the sparse case is not really sparse");
    write_text(dense.path() / "f", std::string(static_cast<std::size_t>(hole), '\0') + "end");
    ::chmod((dense.path() / "f").c_str(), 0644);

    const Layer ls = store.write_layer(sparse.path(), LayerOptions{epoch});
    const Layer ld = store.write_layer(dense.path(), LayerOptions{epoch});
    CHECK(ls.diff_id == ld.diff_id);
    const std::string tar = tar_of(store, ls);
    CHECK(tar.find("GNU.sparse") == std::string::npos);
    CHECK(tar.find("PaxHeader") == std::string::npos);  // nothing here needs a pax record
    CHECK(tar.find("LIBARCHIVE.") == std::string::npos);
    const auto entries = read_tar(store.blob_path(ls.descriptor.digest));
    REQUIRE(entries.size() == 1);
    CHECK(entries[0].data.size() == static_cast<std::size_t>(hole) + 3);
    CHECK(entries[0].data.substr(static_cast<std::size_t>(hole)) == "end");
}

TEST_CASE("xattrs: security.capability and user.* kept in sorted order, security.selinux never",
          "[layer][determinism]") {
    TempDir root(test_tmp()), t1(test_tmp()), t2(test_tmp());
    Store store(root.path());
    const std::string cap = net_bind_capability();
    write_text(t1.path() / "bin", "x");
    write_text(t2.path() / "bin", "x");
    // Set in opposite orders: the tar must not show it.
    set_xattr(t1.path() / "bin", "user.zeta", "z");
    set_xattr(t1.path() / "bin", "security.capability", cap);
    set_xattr(t1.path() / "bin", "user.alpha", "a");
    set_xattr(t2.path() / "bin", "user.alpha", "a");
    set_xattr(t2.path() / "bin", "security.capability", cap);
    set_xattr(t2.path() / "bin", "user.zeta", "z");
    // The host's SELinux label: set where the kernel lets root store one.
    const bool labelled = ::lsetxattr((t1.path() / "bin").c_str(), "security.selinux", "system_u:object_r:bin_t:s0", 26, 0) == 0;
    if (!labelled) WARN("security.selinux cannot be set here; only its absence from an unlabelled file is checked");

    const Layer l1 = store.write_layer(t1.path(), LayerOptions{epoch});
    const Layer l2 = store.write_layer(t2.path(), LayerOptions{epoch});
    CHECK(l1.diff_id == l2.diff_id);
    const std::string tar = tar_of(store, l1);
    CHECK(tar.find("selinux") == std::string::npos);
    // One record per xattr, in the form docker and BuildKit write (no LIBARCHIVE.xattr twin).
    CHECK(tar.find("LIBARCHIVE.") == std::string::npos);
    CHECK(tar.find("PaxHeader") != std::string::npos);
    const auto at = [&](const std::string& name) { return tar.find("SCHILY.xattr." + name + "="); };
    REQUIRE(at("security.capability") != std::string::npos);
    CHECK(at("security.capability") < at("user.alpha"));
    CHECK(at("user.alpha") < at("user.zeta"));
    const auto entries = read_tar(store.blob_path(l1.descriptor.digest));
    CHECK(entry(entries, "bin").xattrs ==
          std::map<std::string, std::string>{{"security.capability", cap}, {"user.alpha", "a"}, {"user.zeta", "z"}});
}

TEST_CASE("sockets are left out and fifos kept, the same either way", "[layer][determinism]") {
    TempDir root(test_tmp()), t1(test_tmp()), t2(test_tmp());
    Store store(root.path());
    for (const auto* t : {&t1, &t2}) {
        REQUIRE(::mkfifo((t->path() / "pipe").c_str(), 0640) == 0);
        write_text(t->path() / "z", "z");
    }
    make_socket(t1.path() / "sock");  // only t1 has one: it must not matter
    const Layer l1 = store.write_layer(t1.path(), LayerOptions{epoch});
    const Layer l2 = store.write_layer(t2.path(), LayerOptions{epoch});
    CHECK(l1.diff_id == l2.diff_id);
    const auto entries = read_tar(store.blob_path(l1.descriptor.digest));
    REQUIRE(entries.size() == 2);
    CHECK(entries[0].path == "pipe");
    CHECK(entries[0].type == AE_IFIFO);
    CHECK(entries[0].perm == 0640);
    CHECK(entries[0].data.empty());
    CHECK(entries[1].path == "z");
}

TEST_CASE("first_tar_difference names the first entry that differs and how", "[layer][determinism]") {
    TempDir root(test_tmp()), t1(test_tmp()), t2(test_tmp());
    Store store(root.path());
    write_text(t1.path() / "a", "same");
    write_text(t2.path() / "a", "same");
    write_text(t1.path() / "f", "one");
    write_text(t2.path() / "f", "two");
    const auto blob = [&](const TempDir& t, std::optional<long long> sde) {
        return store.blob_path(store.write_layer(t.path(), LayerOptions{sde}).descriptor.digest);
    };
    CHECK_FALSE(first_tar_difference(blob(t1, epoch), blob(t1, epoch)));
    const auto content = first_tar_difference(blob(t1, epoch), blob(t2, epoch));
    REQUIRE(content);
    CHECK(content->path == "f");
    CHECK(content->detail == "content");
    // A time the clamp did not cover.
    const timespec times[2] = {{1000, 0}, {1000, 0}};
    REQUIRE(::utimensat(AT_FDCWD, (t2.path() / "a").c_str(), times, 0) == 0);
    const auto mtime = first_tar_difference(blob(t1, epoch), blob(t2, epoch));
    REQUIRE(mtime);
    CHECK(mtime->path == "a");
    CHECK(mtime->detail == "mtime " + std::to_string(epoch) + " vs 1000");
    // An entry only one side has.
    write_text(t2.path() / "g", "g");
    write_text(t1.path() / "f", "two");
    REQUIRE(::utimensat(AT_FDCWD, (t1.path() / "a").c_str(), times, 0) == 0);
    const auto extra = first_tar_difference(blob(t1, epoch), blob(t2, epoch));
    REQUIRE(extra);
    CHECK(extra->path == "g");
    CHECK(extra->detail == "only in the second build");
}

} // namespace layer_entries_test
