#pragma once
// What keeps objects alive in the store, what `strata du` reports and what `strata prune`
// removes; plus the build cache's local bookkeeping (record last-used times, local state).
//
// Roots: every manifest in index.json (its config and layer blobs, and the snapshots of
// its layers' chain ids), and every record that lists what it keeps alive under "refs":
//   {"refs": {"blobs": ["sha256:..."], "snapshots": ["sha256:<chain id>"]}, ...}
// Blobs and snapshots that no root reaches are garbage.
//
// Concurrency (<root>/gc.lock): a process that writes objects which something references
// only later (a build writes a layer, then a cache record, then a manifest and a tag)
// holds the lock shared for its whole run (GcLock::Mode::use); a collection holds it
// exclusively (GcLock::Mode::collect), so it never runs between an object's write and
// the write of the reference to it, and it never deletes a snapshot a build stands on.
#include "store/store.hpp"
#include "util/fd.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace strata::store {

class GcLock {
public:
    enum class Mode {
        use,      // shared: this process writes or stands on objects (build, run)
        collect,  // exclusive: garbage collection
    };
    // Blocks until the lock is held; `on_wait` is called once first if it has to wait.
    GcLock(const Store& store, Mode mode, const std::function<void()>& on_wait = {});

private:
    Fd fd_;
};

// <root>/local/<area>/, created when missing: this machine's own bookkeeping (stat caches
// of build contexts, file lists for `build --explain`). Never part of a cache key.
fs::path local_state_dir(const Store& store, std::string_view area);

// Marks a record as used now (its file's mtime): one syscall, no rewrite, no fsync. A
// lost update only makes the record look older to `prune --filter until=`.
void mark_record_used(const Store& store, std::string_view ns, std::string_view key);

struct RecordInfo {
    std::string key;
    std::int64_t last_used = 0;  // seconds since the epoch
    bool readable = true;        // false: not JSON (it keeps nothing alive)
    std::vector<std::string> blobs;      // "refs"
    std::vector<std::string> snapshots;  // chain ids, "refs"
};
std::vector<RecordInfo> list_records(const Store& store, std::string_view ns);

struct Usage {
    std::size_t count = 0;
    std::int64_t bytes = 0;  // blobs: file size; snapshots: disk usage (st_blocks)
    void add(std::int64_t b) {
        ++count;
        bytes += b;
    }
};

struct DiskUsage {
    std::size_t images = 0;  // tags
    Usage image_blobs;       // reached from index.json
    Usage image_snapshots;
    Usage blobs;  // everything under blobs/
    Usage snapshots;
    std::size_t cache_records = 0;
    std::size_t cache_records_in_images = 0;  // whose outputs some image uses as well
    Usage cache_blobs;  // kept alive only by records
    Usage cache_snapshots;
    Usage garbage_blobs;  // reached by nothing: the next prune removes them
    Usage garbage_snapshots;
};

// `cache_namespaces`: the record namespaces that are the build cache (counted as such);
// records of every namespace count as roots.
DiskUsage disk_usage(const Store& store, const std::vector<std::string>& cache_namespaces);

struct PruneOptions {
    std::vector<std::string> namespaces;  // whose records prune may remove
    // false: only records that keep alive something no image uses (or that are unreadable);
    // true: any record.
    bool all = false;
    std::optional<std::int64_t> unused_for_seconds;  // only records not used for this long
    // Remove the candidates least recently used first, only until what the cache alone
    // keeps alive fits in this many bytes.
    std::optional<std::int64_t> keep_bytes;
    std::vector<std::string> clear_namespaces;  // removed whole (with --all: explain's records)
    std::vector<std::string> clear_local_areas;  // local_state_dir areas removed whole
    std::function<void()> on_wait;  // called if prune has to wait for running builds
};

struct PruneResult {
    std::size_t records_removed = 0;  // of options.namespaces
    std::size_t cleared_records = 0;  // of options.clear_namespaces
    std::size_t blobs_removed = 0;
    std::size_t snapshots_removed = 0;
    std::int64_t bytes_freed = 0;
};

// Takes the collect lock, removes the chosen records, then every blob and snapshot that
// no root reaches any more. A tagged image that cannot be read stops it before anything
// is removed: what it references would be unknown.
PruneResult prune(Store& store, const PruneOptions& options);

} // namespace strata::store
