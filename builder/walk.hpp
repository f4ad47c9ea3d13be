#pragma once
// Small filesystem helpers shared by the builder's tree walkers (COPY, source hashing).
#include "util/error.hpp"

#include <algorithm>
#include <filesystem>
#include <string>
#include <sys/stat.h>
#include <system_error>
#include <vector>

namespace strata::builder {

inline bool is_real_dir(const std::filesystem::path& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

inline struct stat lstat_or_throw(const std::filesystem::path& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) throw_errno("lstat", path.string());
    return st;
}

// Directory entries by name, so every walk (hash, copy, tar) visits them in one order.
inline std::vector<std::string> sorted_names(const std::filesystem::path& dir) {
    std::vector<std::string> names;
    std::error_code ec;
    for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
        names.push_back(it->path().filename().string());
    if (ec) throw_error_code("read directory", dir.string(), ec.value());
    std::sort(names.begin(), names.end());
    return names;
}

inline std::string child_rel(const std::string& rel, const std::string& name) {
    return rel.empty() ? name : rel + "/" + name;
}

} // namespace strata::builder
