// Content digests of COPY sources for cache keys: names, types, permission bits, contents
// and link targets; never mtimes, owners or absolute paths, so clones elsewhere share them.
//
// A Merkle tree, so that directories hash in parallel and the digest does not depend on
// how the work was split. One record per entry:
//   name '\0' type [mode in decimal, unless HashOptions leave it out] '\0' detail '\n'
// where type is d, l, f or o and detail is the directory's digest (64 hex digits), the
// link's target, the file's content sha256, or rdev. A directory's digest is the sha256 of
// its kept children's records in name order; the source's is "sha256:" + the sha256 of its
// own record, named ".". An unchanged 20,000-file context costs one fstatat per entry, on
// every core.
#include "builder/context_hashes.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fork_join.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <deque>
#include <fcntl.h>
#include <optional>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace strata::builder {

namespace detail {

std::string hash_file_content(int dir_fd, const char* name, const std::string& shown, struct stat* after) {
    Fd fd(::openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) throw_errno("open", shown);
    Sha256 content;
    char buf[65536];
    while (const std::size_t n = read_some(fd.get(), buf, sizeof buf, shown.c_str())) content.update(buf, n);
    if (after && ::fstat(fd.get(), after) != 0) throw_errno("fstat", shown);
    return content.hex();
}

void ReadEveryFile::content_digest(int dir_fd, const char* name, const std::string&, const std::string& shown,
                                   const struct stat&, std::string& hex, std::size_t&) {
    hex = hash_file_content(dir_fd, name, shown);
}

namespace {

std::string octal_mode(mode_t mode) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
    return buf;
}

char type_of(mode_t mode) {
    if (S_ISDIR(mode)) return 'd';
    if (S_ISLNK(mode)) return 'l';
    if (S_ISREG(mode)) return 'f';
    return 'o';
}

constexpr std::size_t hex_size = 64;

std::string read_link_at(int dir_fd, const char* name, const std::string& shown) {
    std::string target(256, '\0');
    for (;;) {
        const ssize_t n = ::readlinkat(dir_fd, name, target.data(), target.size());
        if (n < 0) throw_errno("readlink", shown);
        if (static_cast<std::size_t>(n) < target.size()) {
            target.resize(static_cast<std::size_t>(n));
            return target;
        }
        target.resize(target.size() * 2);  // possibly truncated: again with more room
    }
}

// One entry as a record and as a listing line.
struct EntryRef {
    int dir_fd;
    const char* name;     // in dir_fd
    std::string_view record_name;  // "." for the source itself
    const std::string& rel;
    const std::string& shown;  // its host path, for errors
    const struct stat& st;
};

// Appends the entry's record to `records` (for a directory, hex_size '0's where its digest
// goes once known) and returns its listing description ("f0644 <sha256>").
std::string append_record(std::string& records, const EntryRef& e, const HashOptions& options, FileDigests& files,
                          std::string& hex, std::size_t& cursor) {
    const char type = type_of(e.st.st_mode);
    records.append(e.record_name).push_back('\0');
    records += type;
    if (options.include_mode) records += std::to_string(e.st.st_mode & 07777);
    records += '\0';
    std::string description(1, type);
    if (options.include_mode) description += octal_mode(e.st.st_mode);
    switch (type) {
    case 'd': records.append(hex_size, '0'); break;
    case 'l': {
        const std::string target = read_link_at(e.dir_fd, e.name, e.shown);
        records += target;
        description += " -> " + target;
        break;
    }
    case 'f':
        files.content_digest(e.dir_fd, e.name, e.rel, e.shown, e.st, hex, cursor);
        records += hex;
        description += " " + hex;
        break;
    default:
        records += std::to_string(e.st.st_rdev);
        description += " rdev=" + std::to_string(e.st.st_rdev);
    }
    records += '\n';
    return description;
}

// What every directory of one walk shares.
struct Walk {
    const ContextFilter& filter;
    const HashOptions& options;
    FileDigests& files;
    std::vector<ListingEntry>* listing;  // when given, the walk runs on this thread, in order
    const std::string root;              // the source's host path, for errors
    ForkJoin* pool;                      // null: subdirectories are hashed inline
    std::atomic<bool> failed{false};     // a task threw: the others stop early
};

// Hashes one directory: lists and stats its entries, hands subdirectories to the pool, then
// hashes the records once their digests are in.
class DirHasher {
public:
    DirHasher(Walk& walk, std::string label, std::string rel)
        : walk_(walk), label_(std::move(label)), rel_(std::move(rel)) {}

    // The digest (hex) of the directory `name` in parent_fd.
    std::string run(int parent_fd, const char* name) {
        Fd dir(::openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!dir) throw_errno("open", shown());
        DirNames names;
        names.read(dir.get(), shown());
        std::deque<ForkJoin::Task> subdirs;  // stable addresses for the pool
        std::deque<std::pair<std::size_t, std::string>> subdir_digests;  // record offset, digest (stable)
        try {
            records(dir.get(), names, subdirs, subdir_digests);
        } catch (...) {
            walk_.failed = true;
            for (auto& task : subdirs) wait_quietly(task);  // they use dir and this frame
            throw;
        }
        std::exception_ptr first_error;
        for (auto& task : subdirs) {
            try {
                walk_.pool->wait(task);
            } catch (...) {
                if (!first_error) first_error = std::current_exception();
            }
        }
        if (first_error) std::rethrow_exception(first_error);
        for (const auto& [offset, digest] : subdir_digests) records_.replace(offset, hex_size, digest);
        return sha256_hex(records_);
    }

private:
    void wait_quietly(ForkJoin::Task& task) noexcept {
        try {
            walk_.pool->wait(task);
        } catch (...) {
        }
    }

    // The entry's host path, for errors.
    std::string shown() const { return walk_.root + label_.substr(1); }

    void records(int dir_fd, const DirNames& names, std::deque<ForkJoin::Task>& subdirs,
                 std::deque<std::pair<std::size_t, std::string>>& subdir_digests) {
        const std::size_t label_size = label_.size();
        const std::size_t rel_size = rel_.size();
        for (std::size_t i = 0; i < names.size(); ++i) {
            if (walk_.failed) return;  // another directory failed: its error is what counts
            label_.append("/").append(names[i]);
            if (!rel_.empty()) rel_ += '/';
            rel_ += names[i];
            struct stat st {};
            if (::fstatat(dir_fd, names.c_str(i), &st, AT_SYMLINK_NOFOLLOW) != 0) throw_errno("lstat", shown());
            if (!walk_.filter.skip(rel_, S_ISDIR(st.st_mode))) {
                record(dir_fd, names.c_str(i), names[i], st);
                if (S_ISDIR(st.st_mode)) {
                    // The digest goes where the placeholder is, once known.
                    subdir_digests.emplace_back(records_.size() - hex_size - 1, std::string());
                    auto& digest = subdir_digests.back().second;
                    if (walk_.pool) {
                        subdirs.emplace_back([this, dir_fd, name = names.c_str(i), label = label_, rel = rel_, &digest] {
                            digest = DirHasher(walk_, label, rel).run(dir_fd, name);
                        });
                        walk_.pool->submit(subdirs.back());
                    } else {
                        digest = DirHasher(walk_, label_, rel_).run(dir_fd, names.c_str(i));
                    }
                }
            }
            label_.resize(label_size);
            rel_.resize(rel_size);
        }
    }

    // Appends the entry's record (a placeholder for a directory's digest) and lists it.
    void record(int dir_fd, const char* name_c, std::string_view name, const struct stat& st) {
        const std::string shown_path = shown();
        const std::string description =
            append_record(records_, {dir_fd, name_c, name, rel_, shown_path, st}, walk_.options, walk_.files, hex_, cursor_);
        if (walk_.listing) walk_.listing->push_back({rel_, description});
    }

    Walk& walk_;
    std::string label_;  // "." + "/name"... of the current entry
    std::string rel_;    // its path relative to the root the source was matched in
    std::string records_, hex_;
    std::size_t cursor_ = 0;  // the stat cache's guess for this directory's next file
};

// Threads for one walk: the cores, up to a few (fstatat scales, the disk may not).
unsigned walk_threads() {
    const unsigned cores = std::thread::hardware_concurrency();
    return std::clamp(cores, 1u, 8u);
}

} // namespace

std::string hash_tree(const CopySource& source, const ContextFilter& filter, const HashOptions& options,
                      FileDigests& files, std::vector<ListingEntry>* listing) {
    const std::string root = source.path.string();
    struct stat st {};
    if (::fstatat(AT_FDCWD, root.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) throw_errno("lstat", root);

    // The source's own record, named ".", its detail computed as for any entry.
    std::optional<ForkJoin> pool;
    if (!listing && S_ISDIR(st.st_mode)) pool.emplace(walk_threads());
    Walk walk{filter, options, files, listing, root, pool ? &*pool : nullptr};
    const std::size_t listed_at = listing ? listing->size() : 0;
    if (listing) listing->push_back({source.rel.empty() ? "." : source.rel, ""});  // before its children
    std::string own, hex;
    std::size_t cursor = 0;
    const std::string description =
        append_record(own, {AT_FDCWD, root.c_str(), ".", source.rel, root, st}, options, files, hex, cursor);
    if (listing) (*listing)[listed_at].description = description;
    if (S_ISDIR(st.st_mode)) own.replace(own.size() - hex_size - 1, hex_size, DirHasher(walk, ".", source.rel).run(AT_FDCWD, root.c_str()));
    return "sha256:" + sha256_hex(own);
}

} // namespace detail

std::string hash_source(const CopySource& source, const ContextFilter& filter) {
    detail::ReadEveryFile files;
    return detail::hash_tree(source, filter, {}, files);
}

} // namespace strata::builder
