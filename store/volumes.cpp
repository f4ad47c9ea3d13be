// Named volumes for strata run: plain directories that outlive containers.
#include "store/store.hpp"

#include "util/error.hpp"
#include "util/fs.hpp"

namespace strata::store {

namespace {

// docker's rule for volume names: [a-zA-Z0-9][a-zA-Z0-9_.-]+ (so never "..", never a path).
bool valid_volume_name(std::string_view name) {
    const auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
    if (name.size() < 2 || !alnum(name.front())) return false;
    for (char c : name)
        if (!alnum(c) && c != '_' && c != '.' && c != '-') return false;
    return true;
}

} // namespace

fs::path Store::volume_dir(std::string_view name) {
    if (!valid_volume_name(name))
        throw Error("invalid volume name '" + std::string(name) + "': only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
    const fs::path dir = root_ / "volumes" / std::string(name) / "_data";
    make_dirs(dir);
    return dir;
}

} // namespace strata::store
