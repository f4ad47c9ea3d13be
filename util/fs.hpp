#pragma once
// Small file-system helpers with errno-carrying errors, and RAII for temp dirs and locks.
#include "util/fd.hpp"

#include <filesystem>
#include <string>
#include <string_view>

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
