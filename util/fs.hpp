#pragma once
// Small file-system helpers with errno-carrying errors, and RAII for temp dirs and locks.
#include "util/fd.hpp"

#include <cstdint>
#include <sys/stat.h>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace strata {

namespace fs = std::filesystem;

std::string read_file(const fs::path& path);
// Writes to a temp file beside `path`, fsyncs it, renames it over `path`, fsyncs the directory.
void write_file_atomic(const fs::path& path, std::string_view data, unsigned mode = 0644);
// Replaces `path` by rename, without fsync: readers see the old or the new file, never a
// mix, but a crash may lose the change or leave an empty file. For hints (cache records)
// that are worthless rather than harmful when lost or torn.
void write_file_replace(const fs::path& path, std::string_view data, unsigned mode = 0644);
// The target of a symbolic link, without following it.
std::string read_link(const fs::path& path);
void fsync_path(const fs::path& path);  // fsync a file or directory by path
void make_dirs(const fs::path& path, unsigned mode = 0755);
// Removes a tree; errors other than "does not exist" are thrown.
void remove_tree(const fs::path& path);

// The names in a directory (without "." and ".."), sorted bytewise so that every walk (hash,
// copy, tar) visits them in one order. Read with getdents64 into one reusable buffer: no
// DIR stream, no allocation per entry, which matters when a no-op rebuild lists 20,000 files.
class DirNames {
public:
    // Reads the directory open as dir_fd (from its current offset; the fd stays the
    // caller's). `shown` names it in errors.
    void read(int dir_fd, std::string_view shown);
    void read(const fs::path& dir);  // opens, reads and closes `dir`

    std::size_t size() const noexcept { return entries_.size(); }
    std::string_view operator[](std::size_t i) const noexcept {
        return {names_.data() + entries_[i].offset, entries_[i].length};
    }
    // NUL-terminated, for the *at() calls.
    const char* c_str(std::size_t i) const noexcept { return names_.data() + entries_[i].offset; }

private:
    struct Entry {
        std::uint32_t offset, length;
    };
    std::string names_;  // NUL-terminated names, back to back
    std::vector<Entry> entries_;
    std::unique_ptr<char[]> buffer_;  // getdents64 output: not zeroed, as a vector would be
};

// The components of an archive entry's name, relative to the root it is extracted into:
// "./a//b" -> {"a", "b"}, "./" -> {}. Absolute names and ".." components are hostile and
// refused, not repaired; the Error says so in terms of `root` ("layer", "destination").
std::vector<std::string> relative_components(std::string_view raw, std::string_view root);

// Names of a path's extended attributes (the link itself for a symlink), sorted; none on a
// filesystem without xattrs.
std::vector<std::string> xattr_names(const fs::path& path);
// One extended attribute of a path (not following a symlink); nullopt when absent.
std::optional<std::string> get_xattr(const fs::path& path, const std::string& name);

// Owner, mode, xattrs and times of `from` (stat'ed as `st`) onto `to`, times last (setting
// the others does not move them, but filling a directory did). Symlinks keep the link's own.
void copy_attributes(const fs::path& from, const fs::path& to, const struct stat& st);

// Copies the tree below directory `from` into the existing directory `to` as `cp -a` does:
// contents, owners, modes, times, xattrs, symlinks (never followed), device nodes, fifos,
// and hard links within the tree. Sockets are skipped. `to`'s own attributes are left.
void copy_tree(const fs::path& from, const fs::path& to);

// Sorted names of `dir`, as strings: for walks that keep them.
std::vector<std::string> sorted_dir_names(const fs::path& dir);

// A directory made with mkdtemp under `parent`, removed recursively on destruction
// unless release()d. Callers must unmount anything mounted inside it first.
class TempDir {
public:
    TempDir() = default;
    explicit TempDir(const fs::path& parent, std::string_view prefix = "tmp-");
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    TempDir(TempDir&& other) noexcept : path_(std::exchange(other.path_, {})) {}
    TempDir& operator=(TempDir&& other) noexcept;
    ~TempDir();

    const fs::path& path() const noexcept { return path_; }
    fs::path release() noexcept { return std::exchange(path_, {}); }

private:
    fs::path path_;
};

// An exclusive or shared flock(2) held for the object's lifetime.
class FileLock {
public:
    enum class Mode { shared, exclusive };
    FileLock(const fs::path& path, Mode mode);

private:
    Fd fd_;
};

} // namespace strata
