#pragma once
// Persistent directories for RUN --mount=type=cache, kept in the store across builds and
// never part of a layer or a cache key:
//
//   <root>/cache-mounts/<sha256 hex of the id>/id        the id, for people looking around
//   <root>/cache-mounts/<hex>/<n>/                       instance n's files (0 first)
//   <root>/cache-mounts/<hex>/<n>.lock                   flock held while the instance is in use
//
// Every user holds a lock on its instance: `shared` a shared one (concurrent users share
// the files), `locked` an exclusive one (a second user waits), `private` an exclusive one
// taken without waiting, on the first instance that nobody uses (a new one when all are).
// A shared user waits while a locked or private user holds instance 0.
#include "store/store.hpp"
#include "util/fd.hpp"

#include <filesystem>
#include <string_view>

namespace strata::store {

enum class CacheSharing { shared, private_instance, locked };

// The owner and mode a cache directory gets when it is created (BuildKit's defaults).
struct CacheDirAttributes {
    unsigned mode = 0755;
    unsigned uid = 0;
    unsigned gid = 0;
};

// An instance in use; the lock is released when this goes.
class CacheMount {
public:
    CacheMount(std::filesystem::path path, Fd lock) : path_(std::move(path)), lock_(std::move(lock)) {}
    const std::filesystem::path& path() const noexcept { return path_; }

private:
    std::filesystem::path path_;
    Fd lock_;
};

// Finds or creates the cache directory for `id` and takes it as `sharing` says (may wait).
CacheMount acquire_cache_mount(const Store& store, std::string_view id, CacheSharing sharing,
                               const CacheDirAttributes& new_dir = {});

// <root>/cache-mounts: where every cache mount lives (for pruning and tests).
std::filesystem::path cache_mounts_dir(const Store& store);

} // namespace strata::store
