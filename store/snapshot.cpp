// Snapshots: each layer unpacked once, in overlay format, under <root>/snapshots/<chain hex>.
#include "store/internal.hpp"

#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"

#include <cerrno>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

namespace strata::store {

fs::path Store::snapshot_dir(std::string_view chain_id) const {
    if (!is_sha256_digest(chain_id)) throw Error("malformed chain id '" + std::string(chain_id) + "'");
    return root_ / "snapshots" / std::string(chain_id.substr(7));
}

bool Store::has_snapshot(std::string_view chain_id) const {
    struct stat st {};
    return ::lstat(snapshot_dir(chain_id).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

TempDir Store::new_snapshot_staging() const {
    TempDir staging(tmp_dir(), "staging-");
    // The snapshot root becomes "/" of the container: mkdtemp's 0700 would leak into it.
    if (::chmod(staging.path().c_str(), 0755) != 0) throw_errno("chmod", staging.path().string());
    return staging;
}

fs::path Store::commit_snapshot(TempDir&& staging, std::string_view chain_id) {
    TempDir owned = std::move(staging);  // dropped on every path that does not rename it
    {
        // The snapshot's files must be on disk before its name is: flush the filesystem.
        Fd dir(::open(owned.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!dir) throw_errno("open", owned.path().string());
        if (::syncfs(dir.get()) != 0) throw_errno("syncfs", owned.path().string());
    }
    const fs::path target = rename_snapshot(std::move(owned), chain_id);
    fsync_path(target.parent_path());
    return target;
}

fs::path Store::rename_snapshot(TempDir&& staging, std::string_view chain_id) {
    const fs::path target = snapshot_dir(chain_id);
    TempDir owned = std::move(staging);
    if (::renameat2(AT_FDCWD, owned.path().c_str(), AT_FDCWD, target.c_str(), RENAME_NOREPLACE) != 0) {
        if (errno == EEXIST || errno == ENOTEMPTY) return target;  // someone committed this chain first; ours is dropped
        throw_errno("rename", target.string());
    }
    owned.release();
    return target;
}

namespace {

void link_tree(const fs::path& from, const fs::path& to) {
    DirNames names;
    names.read(from);
    for (std::size_t i = 0; i < names.size(); ++i) {
        const fs::path source = from / names[i], target = to / names[i];
        struct stat st {};
        if (::lstat(source.c_str(), &st) != 0) throw_errno("lstat", source.string());
        if (S_ISDIR(st.st_mode)) {
            if (::mkdir(target.c_str(), 0700) != 0) throw_errno("mkdir", target.string());
            link_tree(source, target);
            copy_attributes(source, target, st);
        } else if (::linkat(AT_FDCWD, source.c_str(), AT_FDCWD, target.c_str(), 0) != 0) {
            throw_errno("link", target.string());
        }
    }
}

// Unpacks one layer into a staging dir and commits it as chain_id's snapshot, after
// checking that the blob and its tar are what the image claims.
void unpack_snapshot(Store& store, const Descriptor& layer, const std::string& diff_id, const std::string& chain_id) {
    TempDir staging = store.new_snapshot_staging();
    const auto [tar_digest, blob_digest] =
        detail::unpack_layer_hashed(store.blob_path(layer.digest), layer.media_type, staging.path(), WhiteoutMode::overlay);
    if (blob_digest != layer.digest) throw Error("blob is corrupt: its content hashes to " + blob_digest);
    // The chain id names content: a layer whose tar is not the diff id the config claims
    // must not be stored under it, or it would poison every image that shares the chain.
    if (tar_digest != diff_id) throw Error("diff id mismatch: config says " + diff_id + ", the layer is " + tar_digest);
    store.commit_snapshot(std::move(staging), chain_id);
}

} // namespace

std::vector<fs::path> Store::ensure_snapshots(const Image& image) {
    const auto layers = image.layers();
    const auto diff_ids = image.diff_ids();
    const auto chains = chain_ids(diff_ids);
    if (chains.size() != layers.size())
        throw Error("image '" + image.manifest_descriptor.digest + "': diff ids and layers differ in number");
    std::vector<fs::path> dirs;
    for (std::size_t i = 0; i < layers.size(); ++i) {
        if (!has_snapshot(chains[i])) {
            with_context("snapshot of layer " + std::to_string(i) + " (" + layers[i].digest + ")",
                         [&] { unpack_snapshot(*this, layers[i], diff_ids[i], chains[i]); });
        }
        dirs.push_back(snapshot_dir(chains[i]));
    }
    return dirs;
}

fs::path Store::clone_snapshot(std::string_view from_chain_id, std::string_view chain_id) {
    const fs::path from = snapshot_dir(from_chain_id);
    TempDir staging = new_snapshot_staging();
    link_tree(from, staging.path());
    struct stat st {};
    if (::lstat(from.c_str(), &st) != 0) throw_errno("lstat", from.string());
    copy_attributes(from, staging.path(), st);
    return commit_snapshot(std::move(staging), chain_id);
}

} // namespace strata::store
