// resolve_user: docker's USER syntax against etc/passwd and etc/group from the layers,
// with docker's (runc's) rules for defaults and supplementary groups.
#include "sandbox/sandbox.hpp"

#include "util/error.hpp"
#include "util/fd.hpp"

#include <cerrno>
#include <charconv>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

namespace strata::sandbox {
namespace {

namespace fs = std::filesystem;

std::optional<std::uint32_t> parse_id(std::string_view text) {
    std::uint32_t id = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
    if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
    return id;
}

std::vector<std::string_view> split(std::string_view text, char separator) {
    std::vector<std::string_view> parts;
    for (;;) {
        const auto end = text.find(separator);
        parts.push_back(text.substr(0, end));
        if (end == std::string_view::npos) return parts;
        text.remove_prefix(end + 1);
    }
}

std::string read_all(int fd, const std::string& what) {
    std::string out;
    char buf[8192];
    while (const std::size_t n = read_some(fd, buf, sizeof buf, what.c_str())) out.append(buf, n);
    return out;
}

bool is_whiteout(int dirfd, const char* name) {
    struct stat st;
    return ::fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0);
}

bool is_opaque(int dirfd) {
    char value[2];
    const ssize_t n = ::fgetxattr(dirfd, "trusted.overlay.opaque", value, sizeof value);
    return n == 1 && value[0] == 'y';
}

// etc/<name> as the overlay would show it: from the topmost layer that has it, unless a
// higher layer deleted it (whiteout) or hid the lower etc (opaque directory). Symlinks are
// not followed, so nothing outside the layers can be read.
std::optional<std::string> read_layered_etc_file(const std::vector<fs::path>& layers, const char* name) {
    for (const auto& layer : layers) {
        Fd etc(::open((layer / "etc").c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!etc) {
            if (is_whiteout(AT_FDCWD, (layer / "etc").c_str())) return std::nullopt;
            continue;
        }
        Fd file(::openat(etc.get(), name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
        if (file) {
            struct stat st;
            if (::fstat(file.get(), &st) == 0 && S_ISREG(st.st_mode)) return read_all(file.get(), (layer / "etc" / name).string());
        }
        if (is_whiteout(etc.get(), name) || is_opaque(etc.get())) return std::nullopt;
    }
    return std::nullopt;
}

struct PasswdEntry {
    std::string name;
    std::uint32_t uid;
    std::uint32_t gid;
};

struct GroupEntry {
    std::string name;
    std::uint32_t gid;
    std::vector<std::string> members;
};

std::vector<PasswdEntry> parse_passwd(std::string_view text) {
    std::vector<PasswdEntry> entries;
    for (auto line : split(text, '\n')) {
        const auto fields = split(line, ':');
        if (fields.size() < 4) continue;
        const auto uid = parse_id(fields[2]);
        const auto gid = parse_id(fields[3]);
        if (uid && gid) entries.push_back({std::string(fields[0]), *uid, *gid});
    }
    return entries;
}

std::vector<GroupEntry> parse_group(std::string_view text) {
    std::vector<GroupEntry> entries;
    for (auto line : split(text, '\n')) {
        const auto fields = split(line, ':');
        if (fields.size() < 3) continue;
        const auto gid = parse_id(fields[2]);
        if (!gid) continue;
        GroupEntry entry{std::string(fields[0]), *gid, {}};
        if (fields.size() >= 4 && !fields[3].empty()) {
            for (auto member : split(fields[3], ',')) entry.members.emplace_back(member);
        }
        entries.push_back(std::move(entry));
    }
    return entries;
}

} // namespace

User resolve_user(const std::string& user, const std::vector<fs::path>& lower_dirs_topmost_first) {
    const auto colon = user.find(':');
    const std::string user_part = user.substr(0, colon);
    const std::string group_part = colon == std::string::npos ? "" : user.substr(colon + 1);

    // Files are read only when a name must be looked up or a default filled in.
    const auto passwd = parse_passwd(read_layered_etc_file(lower_dirs_topmost_first, "passwd").value_or(""));
    const auto groups = parse_group(read_layered_etc_file(lower_dirs_topmost_first, "group").value_or(""));

    User result;  // docker's defaults: root, group 0
    std::string user_name;
    // No user means uid 0, whatever its name is in this image.
    const auto numeric_uid = user_part.empty() ? std::optional<std::uint32_t>(0) : parse_id(user_part);
    const PasswdEntry* entry = nullptr;
    for (const auto& candidate : passwd) {
        const bool matches = numeric_uid ? candidate.uid == *numeric_uid : candidate.name == user_part;
        if (matches) {
            entry = &candidate;
            break;
        }
    }
    if (entry) {
        result.uid = entry->uid;
        result.gid = entry->gid;
        user_name = entry->name;
    } else if (numeric_uid) {
        result.uid = *numeric_uid;
    } else {
        throw Error("unable to find user " + user_part + ": no matching entries in passwd file");
    }

    if (!group_part.empty()) {
        // An explicit group replaces the primary group, and (as in runc) there are then no
        // supplementary groups from etc/group.
        if (const auto gid = parse_id(group_part)) {
            result.gid = *gid;
        } else {
            const GroupEntry* group = nullptr;
            for (const auto& candidate : groups) {
                if (candidate.name == group_part) {
                    group = &candidate;
                    break;
                }
            }
            if (!group) throw Error("unable to find group " + group_part + ": no matching entries in group file");
            result.gid = group->gid;
        }
        return result;
    }
    if (user_name.empty()) return result;
    for (const auto& group : groups) {
        for (const auto& member : group.members) {
            if (member == user_name) {
                result.groups.push_back(group.gid);
                break;
            }
        }
    }
    return result;
}

} // namespace strata::sandbox
