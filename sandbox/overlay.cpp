#include "sandbox/overlay.hpp"

#include "sandbox/userns.hpp"
#include "util/error.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mount.h>
#include <cstdio>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

namespace strata::sandbox {
namespace {

namespace fs = std::filesystem;

// A directory with exactly this mode and owner, whatever the umask and whether it existed.
void make_owned_dir(const fs::path& dir) {
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) throw_errno("mkdir", dir.string());
    if (::chmod(dir.c_str(), 0755) != 0) throw_errno("chmod", dir.string());
    if (::chown(dir.c_str(), 0, 0) != 0) throw_errno("chown", dir.string());
}

constexpr const char* fixed_options[][2] = {{"redirect_dir", "off"}, {"metacopy", "off"}, {"index", "off"}};

// The kernel's messages about a failed fsconfig, e.g. "e overlay: failed to resolve 'x'".
std::string fs_context_log(int fsfd) {
    std::string log;
    char line[512];
    ssize_t n;
    while ((n = ::read(fsfd, line, sizeof line)) > 0) {
        if (!log.empty()) log += "; ";
        log.append(line, static_cast<std::size_t>(n));
    }
    return log;
}

[[noreturn]] void throw_overlay_error(int fsfd, int error, const fs::path& mount_point, const std::string& step) {
    std::string message = "mount overlay '" + mount_point.string() + "': " + std::strerror(error);
    const auto log = fs_context_log(fsfd);
    message += " (" + step + (log.empty() ? "" : ": " + log) + ")";
    throw Error(message);
}

// Fills in the legacy fields: the lowerdir+ key is new in Linux 6.8, fsopen in 5.2.
OverlayMount legacy_overlay(const std::vector<fs::path>& lower_dirs, const fs::path& upper, const fs::path& work) {
    std::vector<std::string> lowers;
    for (const auto& dir : lower_dirs) lowers.push_back(dir.string());
    OverlayMount mount;
    mount.legacy_options = legacy_overlay_options(lowers, upper.string(), work.string());
    constexpr std::size_t page_limit = 4095;  // mount(2) copies at most one page of data
    if (mount.legacy_options.size() <= page_limit) return mount;

    // Too long: make every path relative to their deepest common directory.
    fs::path common = upper.parent_path();
    const auto within = [](const fs::path& dir, const fs::path& path) {
        const auto rel = path.lexically_relative(dir);
        return !rel.empty() && *rel.begin() != "..";
    };
    auto all_within = [&](const fs::path& dir) {
        if (!within(dir, work)) return false;
        for (const auto& lower : lower_dirs)
            if (!within(dir, lower)) return false;
        return true;
    };
    while (!all_within(common) && common.has_relative_path()) common = common.parent_path();
    lowers.clear();
    for (const auto& dir : lower_dirs) lowers.push_back(dir.lexically_relative(common).string());
    mount.legacy_options = legacy_overlay_options(lowers, upper.lexically_relative(common).string(),
                                                  work.lexically_relative(common).string());
    if (mount.legacy_options.size() > page_limit)
        throw Error("mount overlay: " + std::to_string(lower_dirs.size()) + " layers do not fit mount(2)'s options page");
    mount.legacy_dir = common.string();
    return mount;
}

// Before 6.5 overlay accepted any key at fsconfig time and rejected it only at create, so
// the version is the reliable test for "lowerdir+".
bool kernel_at_least(int major, int minor) {
    struct utsname name;
    if (::uname(&name) != 0) return false;
    int have_major = 0, have_minor = 0;
    if (std::sscanf(name.release, "%d.%d", &have_major, &have_minor) != 2) return false;
    return have_major > major || (have_major == major && have_minor >= minor);
}

} // namespace

StateLayout prepare_state_dir(const fs::path& state_dir) {
    StateLayout state{state_dir / "root", state_dir / "mountpoints"};
    make_owned_dir(state.root);
    make_owned_dir(state.mountpoints);
    for (const char* name : {"proc", "dev", "sys"}) make_owned_dir(state.mountpoints / name);
    return state;
}

std::vector<fs::path> overlay_lower_dirs(const Spec& spec, const StateLayout& state) {
    auto lowers = spec.lower_dirs;
    lowers.push_back(state.mountpoints);
    return lowers;
}

void copy_root_attributes(const fs::path& from_lower, const fs::path& upper, const std::optional<IdMapping>& userns) {
    struct stat st;
    if (::stat(from_lower.c_str(), &st) != 0) throw_errno("stat", from_lower.string());
    const auto uid = userns ? host_uid(*userns, st.st_uid) : st.st_uid;
    const auto gid = userns ? host_gid(*userns, st.st_gid) : st.st_gid;
    if (::chown(upper.c_str(), uid, gid) != 0) throw_errno("chown", upper.string());
    if (::chmod(upper.c_str(), st.st_mode & 07777) != 0) throw_errno("chmod", upper.string());
}

std::string legacy_overlay_options(const std::vector<std::string>& lower_dirs, const std::string& upper,
                                   const std::string& work) {
    const auto escaped = [](const std::string& path) {
        std::string out;
        for (char c : path) {
            if (c == ',' || c == ':' || c == '\\') out += '\\';
            out += c;
        }
        return out;
    };
    std::string options = "lowerdir=";
    for (std::size_t i = 0; i < lower_dirs.size(); ++i) {
        if (i) options += ':';
        options += escaped(lower_dirs[i]);
    }
    options += ",upperdir=" + escaped(upper) + ",workdir=" + escaped(work);
    for (const auto& [key, value] : fixed_options) options += std::string(",") + key + "=" + value;
    return options;
}

OverlayMount prepare_overlay(const std::vector<fs::path>& lower_dirs, const fs::path& upper, const fs::path& work,
                             const fs::path& mount_point, int idmap_userns_fd) {
    if (idmap_userns_fd >= 0 && !kernel_at_least(6, 8))
        throw Error("a user namespace (--userns) needs Linux 6.8 or later, for idmapped overlay layers");
    if (!kernel_at_least(6, 8)) return legacy_overlay(lower_dirs, upper, work);
    Fd fsfd(::fsopen("overlay", FSOPEN_CLOEXEC));
    if (!fsfd) {
        if (errno == ENOSYS) return legacy_overlay(lower_dirs, upper, work);
        throw_errno("fsopen", "overlay");
    }
    const auto set = [&](const char* key, const std::string& value) {
        return ::fsconfig(fsfd.get(), FSCONFIG_SET_STRING, key, value.c_str(), 0) == 0 ? 0 : errno;
    };
    // Idmapped layers are detached mounts, named through our fds; overlay holds its own
    // references once created, so the fds go at the end of this function.
    std::vector<Fd> idmapped;
    const auto layer_path = [&](const fs::path& dir) {
        if (idmap_userns_fd < 0) return dir.string();
        idmapped.push_back(idmapped_tree(dir, idmap_userns_fd));
        return "/proc/self/fd/" + std::to_string(idmapped.back().get());
    };
    for (std::size_t i = 0; i < lower_dirs.size(); ++i) {
        if (const int error = set("lowerdir+", layer_path(lower_dirs[i]))) {
            throw_overlay_error(fsfd.get(), error, mount_point, "lowerdir '" + lower_dirs[i].string() + "'");
        }
    }
    if (!upper.empty()) {  // without an upper directory the overlay is read-only
        if (const int error = set("upperdir", upper.string()))
            throw_overlay_error(fsfd.get(), error, mount_point, "upperdir '" + upper.string() + "'");
        if (const int error = set("workdir", work.string()))
            throw_overlay_error(fsfd.get(), error, mount_point, "workdir '" + work.string() + "'");
    }
    for (const auto& [key, value] : fixed_options) {
        if (const int error = set(key, value)) throw_overlay_error(fsfd.get(), error, mount_point, key);
    }
    if (::fsconfig(fsfd.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0)
        throw_overlay_error(fsfd.get(), errno, mount_point, "create");
    OverlayMount mount;
    mount.mount_fd = Fd(::fsmount(fsfd.get(), FSMOUNT_CLOEXEC, 0));
    if (!mount.mount_fd) throw_overlay_error(fsfd.get(), errno, mount_point, "fsmount");
    return mount;
}

} // namespace strata::sandbox
