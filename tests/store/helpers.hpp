#pragma once
// Test helpers for the store: temp trees, tar building and reading with libarchive.
#include "store/store.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

namespace strata::store::test {

inline fs::path test_tmp() {
    fs::path base = fs::temp_directory_path() / ("strata-store-tests-" + std::to_string(::geteuid()));
    make_dirs(base);
    return base;
}

inline void write_text(const fs::path& path, const std::string& data) {
    make_dirs(path.parent_path());
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) throw_errno("fopen", path.string());
    std::fwrite(data.data(), 1, data.size(), f);
    std::fclose(f);
}

// Files (and their contents) below dir, relative, recursively; "" marks directories,
// "-> target" symlinks.
std::map<std::string, std::string> tree_listing(const fs::path& dir);

struct TarEntry {
    std::string path;
    unsigned type = 0;  // AE_IFREG, AE_IFDIR, ...
    unsigned perm = 0;
    long long uid = 0, gid = 0;
    std::string uname, gname;
    long long mtime = 0;
    bool atime_set = false, ctime_set = false;
    std::string symlink, hardlink;
    std::string data;
    std::map<std::string, std::string> xattrs;
};
// Reads any (compressed) tar.
std::vector<TarEntry> read_tar(const fs::path& file);

// Writes a tar (plain, or gzip with gzip=true) of the given entries, in order. Only
// path, type, perm, symlink, hardlink and data are used.
void write_tar(const fs::path& file, const std::vector<TarEntry>& entries, bool gzip = false);

std::string gunzip(const std::string& data);

inline TarEntry tar_reg(std::string path, std::string data = {}) {
    TarEntry e;
    e.path = std::move(path);
    e.type = AE_IFREG;
    e.perm = 0644;
    e.data = std::move(data);
    return e;
}
inline TarEntry tar_dir(std::string path) {
    TarEntry e;
    e.path = std::move(path);
    e.type = AE_IFDIR;
    e.perm = 0755;
    return e;
}
inline TarEntry tar_symlink(std::string path, std::string target) {
    TarEntry e;
    e.path = std::move(path);
    e.type = AE_IFLNK;
    e.perm = 0777;
    e.symlink = std::move(target);
    return e;
}
inline TarEntry tar_hardlink(std::string path, std::string target) {
    TarEntry e = tar_reg(std::move(path));
    e.hardlink = std::move(target);
    return e;
}

// The conformance data directory, or "" (after a WARN) when it is absent.
fs::path conformance_dir();

} // namespace strata::store::test
