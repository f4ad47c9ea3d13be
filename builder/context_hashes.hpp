#pragma once
// Content digests of COPY/ADD sources for cache keys (the tree digest of hash_source in
// copy.hpp), with a persistent stat cache for the build context: a context file is read
// again only when its (size, mtime, ctime, inode, device, mode) changed since the digest
// was taken. ctime cannot be set back (`touch -d`, editors and `git checkout` move it), so
// an edit that restores size and mtime is still seen. Sources in another stage's
// filesystem are always hashed in full.
//
// The stat cache lives in the store, one file per context (named by a digest of the
// context's absolute path: local data, never part of a key). It is loaded once per build
// and written by save() only when something changed; a file that is corrupt or from
// another version is ignored and rebuilt.
#include "builder/copy.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <utility>
#include <vector>

namespace strata::store {
class Store;
}

namespace strata::builder {

struct HashOptions {
    // false when every mode written is fixed whatever the source's (COPY --chmod=0644):
    // then the source's own permission bits do not count, so they do not split the cache.
    bool include_mode = true;
};

// The options for a COPY/ADD with this (expanded) --chmod text: an octal mode replaces
// every source mode; a symbolic one (u+x) depends on it; none keeps it.
HashOptions hash_options_for_chmod(const std::string& chmod);

// One entry of a source tree as its digest saw it, for `build --explain`.
struct ListingEntry {
    std::string path;         // relative to the root the source was matched in ("." for the root)
    std::string description;  // "f0644 <sha256 hex>", "d0755", "l -> target", "o<rdev>" (no mode when excluded)
    bool operator==(const ListingEntry&) const = default;
};

class ContextHashes {
public:
    // No stat cache: every file is read (unit tests, tools).
    ContextHashes();
    // With the persistent stat cache of context_dir in the store.
    ContextHashes(store::Store& store, const fs::path& context_dir);
    ~ContextHashes();
    ContextHashes(const ContextHashes&) = delete;
    ContextHashes& operator=(const ContextHashes&) = delete;

    // The tree digest of a source (hash_source's meaning). Thread-safe: stages may COPY at once.
    std::string digest(const CopySource& source, const ContextFilter& filter, const HashOptions& options = {});

    // The entries behind a digest this object last returned on this thread, walked again
    // (cheap for context files: their content digests come from the stat cache). Call it
    // within the step that asked for the digest: a stage's view is mounted, and a filter's
    // --exclude matcher alive, only during that step.
    std::optional<std::vector<ListingEntry>> listing(const std::string& digest);

    // Writes the stat cache back if it changed (temp file, fsync, rename). Never throws for
    // a cache that cannot be written: it is only an optimisation.
    void save();

    struct Stats {
        std::size_t files_read = 0;    // content hashed from the file
        std::size_t files_reused = 0;  // content digest taken from the stat cache
    };
    Stats stats() const;

    class StatCache;  // defined in context_hashes.cpp

private:
    struct Source {
        CopySource source;
        ContextFilter filter;
        HashOptions options;
    };
    bool in_context(const CopySource& source) const;
    StatCache& stat_cache();

    store::Store* store_ = nullptr;
    fs::path context_dir_;
    fs::path cache_file_;
    mutable std::mutex mutex_;  // guards cache_ (creation), sources_ and stats_; the StatCache has its own
    std::unique_ptr<StatCache> cache_;
    // (thread, digest) -> how it was computed, for listing(). Per thread: stages run on their
    // own threads, and a filter may point at matchers that live only during its own step.
    std::map<std::pair<std::thread::id, std::string>, Source> sources_;
    Stats stats_;
};

namespace detail {

// Where a walk gets a regular file's content digest (64 hex digits) from.
class FileDigests {
public:
    virtual ~FileDigests() = default;
    // `dir_fd` holds the file as `name`; `rel` is its path relative to the source's root;
    // `shown` names it in errors. Writes the digest into `hex` (a buffer reused per file).
    // `cursor` is the caller's (one per directory walked) for the implementation to keep
    // its place in. Called from several threads at once.
    virtual void content_digest(int dir_fd, const char* name, const std::string& rel, const std::string& shown,
                                const struct stat& st, std::string& hex, std::size_t& cursor) = 0;
};

// Reads and hashes every file.
class ReadEveryFile final : public FileDigests {
public:
    void content_digest(int dir_fd, const char* name, const std::string& rel, const std::string& shown,
                        const struct stat& st, std::string& hex, std::size_t& cursor) override;
};

// The tree digest of `source` (see hash_source), every file's content digest asked of
// `files`; when `listing` is given, every entry is appended to it as well.
std::string hash_tree(const CopySource& source, const ContextFilter& filter, const HashOptions& options,
                      FileDigests& files, std::vector<ListingEntry>* listing = nullptr);

// Reads the file dir_fd/name and returns its sha256 (hex). With `after` given, it receives
// the file's fstat taken when the reading ended (to tell whether it changed meanwhile).
std::string hash_file_content(int dir_fd, const char* name, const std::string& shown, struct stat* after = nullptr);

} // namespace detail

} // namespace strata::builder
