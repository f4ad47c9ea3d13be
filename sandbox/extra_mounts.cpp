#include "sandbox/extra_mounts.hpp"

#include "util/error.hpp"

#include <cerrno>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

namespace strata::sandbox {
namespace {

namespace fs = std::filesystem;

std::string describe(const Mount& mount) {
    if (mount.kind == Mount::Kind::tmpfs) return "mount tmpfs on '" + mount.target + "'";
    return "mount bind '" + mount.source.string() + "' on '" + mount.target + "'";
}

// "/a/b/c" -> {"/a", "/a/b"}
std::vector<std::string> parents_of(const std::string& target) {
    std::vector<std::string> parents;
    for (auto slash = target.find('/', 1); slash != std::string::npos; slash = target.find('/', slash + 1))
        parents.push_back(target.substr(0, slash));
    return parents;
}

// A directory with exactly this mode and owner, whatever the umask and whether it existed.
void make_stub_dir(const fs::path& dir) {
    if (::mkdir(dir.c_str(), 0755) != 0) {
        if (errno != EEXIST) throw_errno("mkdir", dir.string());
        struct stat st;
        if (::lstat(dir.c_str(), &st) != 0) throw_errno("stat", dir.string());
        if (!S_ISDIR(st.st_mode)) throw Error("'" + dir.string() + "' is a file, and another mount's target is below it");
        return;
    }
    if (::chmod(dir.c_str(), 0755) != 0) throw_errno("chmod", dir.string());
    if (::chown(dir.c_str(), 0, 0) != 0) throw_errno("chown", dir.string());
}

void make_stub_file(const fs::path& file) {
    const Fd fd(::open(file.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644));
    if (!fd) {
        if (errno == EISDIR) throw Error("'" + file.string() + "' is a directory, and another mount's target");
        throw_errno("create", file.string());
    }
}

// The target in the bottom lowerdir: the merged root shows it wherever the image has
// nothing at that path, and the command never wrote it, so the upper dir stays clean.
void make_stub(const fs::path& stub_root, const std::string& target, bool is_dir) {
    for (const auto& parent : parents_of(target)) make_stub_dir(stub_root / parent.substr(1));
    if (is_dir) {
        make_stub_dir(stub_root / target.substr(1));
    } else {
        make_stub_file(stub_root / target.substr(1));
    }
}

Fd open_bind_source(const Mount& mount) {
    if (!mount.source.is_absolute()) throw Error("'" + mount.source.string() + "' is not an absolute path");
    struct stat st;
    if (::lstat(mount.source.c_str(), &st) != 0) throw_errno("stat", mount.source.string());
    // The caller resolves links (inside whatever root they belong to); following one here
    // could lead anywhere on the host.
    if (S_ISLNK(st.st_mode)) throw Error("'" + mount.source.string() + "' is a symbolic link");
    Fd tree(::open_tree(AT_FDCWD, mount.source.c_str(),
                        OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_SYMLINK_NOFOLLOW));
    if (!tree) throw_errno("open_tree", mount.source.string());
    mount_attr attributes{};
    attributes.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (mount.read_only ? MOUNT_ATTR_RDONLY : 0);
    if (::mount_setattr(tree.get(), "", AT_EMPTY_PATH | AT_RECURSIVE, &attributes, sizeof attributes) != 0)
        throw_errno("mount_setattr", mount.source.string());
    return tree;
}

Fd make_tmpfs(const Mount& mount) {
    Fd context(::fsopen("tmpfs", FSOPEN_CLOEXEC));
    if (!context) throw_errno("fsopen", "tmpfs");
    const auto set = [&](const char* key, const std::string& value) {
        if (::fsconfig(context.get(), FSCONFIG_SET_STRING, key, value.c_str(), 0) != 0)
            throw_errno("fsconfig", std::string(key) + "=" + value);
    };
    set("source", "tmpfs");  // what /proc/mounts shows, as docker's tmpfs mounts read
    if (mount.size_bytes) {
        if (*mount.size_bytes <= 0) throw Error("size " + std::to_string(*mount.size_bytes) + " is not positive");
        set("size", std::to_string(*mount.size_bytes));
    }
    char mode[16];
    std::snprintf(mode, sizeof mode, "%o", mount.mode & 07777);
    set("mode", mode);
    if (mount.uid != 0) set("uid", std::to_string(mount.uid));
    if (mount.gid != 0) set("gid", std::to_string(mount.gid));
    if (::fsconfig(context.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0) throw_errno("fsconfig", "create tmpfs");
    Fd tree(::fsmount(context.get(), FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV));
    if (!tree) throw_errno("fsmount", "tmpfs");
    return tree;
}

bool source_is_dir(const Mount& mount) {
    if (mount.kind == Mount::Kind::tmpfs) return true;
    struct stat st;
    if (::stat(mount.source.c_str(), &st) != 0) throw_errno("stat", mount.source.string());
    return S_ISDIR(st.st_mode);
}

} // namespace

std::string clean_container_path(const std::string& path) {
    std::vector<std::string> parts;
    std::size_t start = 0;
    while (start <= path.size()) {
        auto end = path.find('/', start);
        if (end == std::string::npos) end = path.size();
        const std::string part = path.substr(start, end - start);
        if (part == "..") {
            if (!parts.empty()) parts.pop_back();  // the root is its own parent
        } else if (!part.empty() && part != ".") {
            parts.push_back(part);
        }
        start = end + 1;
    }
    std::string clean;
    for (const auto& part : parts) clean += "/" + part;
    return clean.empty() ? "/" : clean;
}

PreparedMounts::PreparedMounts(const std::vector<Mount>& mounts, const fs::path& stub_root) {
    entries_.reserve(mounts.size());
    for (const auto& mount : mounts) {
        with_context(describe(mount), [&] {
            if (mount.target.empty() || mount.target.front() != '/')
                throw Error("the target is not an absolute path");
            const std::string target = clean_container_path(mount.target);
            if (target == "/") throw Error("the target is the container's root");
            const bool is_dir = source_is_dir(mount);
            trees_.push_back(mount.kind == Mount::Kind::tmpfs ? make_tmpfs(mount) : open_bind_source(mount));
            make_stub(stub_root, target, is_dir);
            entries_.push_back({target, parents_of(target), {}});
            plan_.push_back({trees_.back().get(), nullptr, nullptr, is_dir});
        });
    }
    // Pointers last: the strings no longer move.
    for (std::size_t i = 0; i < entries_.size(); ++i) {
        Entry& entry = entries_[i];
        for (const auto& parent : entry.parents) entry.parent_pointers.push_back(parent.c_str());
        entry.parent_pointers.push_back(nullptr);
        plan_[i].target = entry.target.c_str();
        plan_[i].parents = entry.parent_pointers.data();
    }
}

std::vector<int> PreparedMounts::fds() const {
    std::vector<int> fds;
    for (const auto& tree : trees_) fds.push_back(tree.get());
    return fds;
}

} // namespace strata::sandbox
