#include "store/cache_mounts.hpp"

#include "util/error.hpp"
#include "util/sha256.hpp"

#include <cerrno>
#include <cstdio>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace strata::store {
namespace {

Fd open_lock_file(const fs::path& path) {
    Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!fd) throw_errno("open", path.string());
    return fd;
}

// flock that retries EINTR; false when `wait` is off and someone else holds it.
bool take_lock(const Fd& fd, int operation, bool wait, const fs::path& path) {
    if (!wait) operation |= LOCK_NB;
    while (::flock(fd.get(), operation) != 0) {
        if (errno == EWOULDBLOCK && !wait) return false;
        if (errno != EINTR) throw_errno("flock", path.string());
    }
    return true;
}

// Makes <dir> with the attributes, atomically: it appears complete or not at all, and
// two builds creating it at once agree on one (RENAME_NOREPLACE keeps the first).
void ensure_instance_dir(const fs::path& dir, const CacheDirAttributes& attributes) {
    struct stat st;
    if (::lstat(dir.c_str(), &st) == 0) {
        if (!S_ISDIR(st.st_mode)) throw Error("cache mount '" + dir.string() + "' is not a directory");
        return;
    }
    if (errno != ENOENT) throw_errno("stat", dir.string());
    TempDir fresh(dir.parent_path(), ".new-");
    if (::chown(fresh.path().c_str(), attributes.uid, attributes.gid) != 0) throw_errno("chown", fresh.path().string());
    if (::chmod(fresh.path().c_str(), attributes.mode & 07777) != 0) throw_errno("chmod", fresh.path().string());
    if (::renameat2(AT_FDCWD, fresh.path().c_str(), AT_FDCWD, dir.c_str(), RENAME_NOREPLACE) == 0) {
        fresh.release();
        fsync_path(dir.parent_path());
    } else if (errno != EEXIST) {
        throw_errno("rename", dir.string());
    }
}

fs::path cache_dir_for(const Store& store, std::string_view id) {
    // Only root reaches the files through the store; containers see them through a bind.
    make_dirs(cache_mounts_dir(store));
    if (::chmod(cache_mounts_dir(store).c_str(), 0700) != 0) throw_errno("chmod", cache_mounts_dir(store).string());
    const fs::path dir = cache_mounts_dir(store) / sha256_hex(id);
    make_dirs(dir);
    if (!fs::exists(dir / "id")) write_file_atomic(dir / "id", std::string(id) + "\n", 0600);
    return dir;
}

} // namespace

fs::path cache_mounts_dir(const Store& store) { return store.root() / "cache-mounts"; }

CacheMount acquire_cache_mount(const Store& store, std::string_view id, CacheSharing sharing,
                               const CacheDirAttributes& new_dir) {
    if (id.empty()) throw Error("a cache mount needs an id");
    const fs::path dir = cache_dir_for(store, id);
    for (unsigned instance = 0;; ++instance) {
        const fs::path lock_path = dir / (std::to_string(instance) + ".lock");
        Fd lock = open_lock_file(lock_path);
        const bool exclusive = sharing != CacheSharing::shared;
        const bool wait = sharing != CacheSharing::private_instance;
        if (!take_lock(lock, exclusive ? LOCK_EX : LOCK_SH, wait, lock_path)) continue;  // private: try the next
        const fs::path path = dir / std::to_string(instance);
        ensure_instance_dir(path, new_dir);
        return CacheMount(path, std::move(lock));
    }
}

} // namespace strata::store
