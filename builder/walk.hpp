#pragma once
// Small filesystem helpers shared by the builder's tree walkers (COPY, source hashing).
#include "util/error.hpp"
#include "util/fs.hpp"

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

inline std::string child_rel(const std::string& rel, const std::string& name) {
    return rel.empty() ? name : rel + "/" + name;
}

} // namespace strata::builder
