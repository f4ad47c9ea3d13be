#include "sandbox/userns.hpp"

#include "util/error.hpp"

#include <algorithm>
#include <charconv>
#include <csignal>
#include <fcntl.h>
#include <sched.h>
#include <sstream>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace strata::sandbox {
namespace {

namespace fs = std::filesystem;

// The helper child of make_user_namespace: killed and reaped however we leave.
class HeldChild {
public:
    explicit HeldChild(pid_t pid) : pid_(pid) {}
    HeldChild(const HeldChild&) = delete;
    HeldChild& operator=(const HeldChild&) = delete;
    ~HeldChild() {
        ::kill(pid_, SIGKILL);
        while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
        }
    }

private:
    pid_t pid_;
};

void write_map(pid_t pid, const char* file, std::uint32_t host, std::uint32_t size) {
    const std::string path = "/proc/" + std::to_string(pid) + "/" + file;
    const std::string line = "0 " + std::to_string(host) + " " + std::to_string(size) + "\n";
    Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd) throw_errno("open", path);
    // The kernel takes a map in one write, or refuses it.
    if (::write(fd.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size())) throw_errno("write", path);
}

std::optional<std::uint32_t> number(std::string_view text) {
    std::uint32_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
    return value;
}

struct SubordinateRange {
    std::uint32_t start = 0;
    std::uint32_t count = 0;
};

// "name:start:count" lines; the first for `user` wins, as shadow-utils reads them.
std::optional<SubordinateRange> subordinate_range(const std::string& contents, const std::string& user) {
    std::istringstream lines(contents);
    for (std::string line; std::getline(lines, line);) {
        const auto first = line.find(':'), second = line.find(':', first + 1);
        if (first == std::string::npos || second == std::string::npos || line.substr(0, first) != user) continue;
        const auto start = number(std::string_view(line).substr(first + 1, second - first - 1));
        const auto count = number(std::string_view(line).substr(second + 1));
        if (start && count && *count > 0) return SubordinateRange{*start, *count};
    }
    return std::nullopt;
}

void check_mapping(const IdMapping& mapping) {
    if (mapping.size == 0) throw Error("user namespace: the id range is empty");
    // Container root as host root would map nothing away: the point is an unprivileged range.
    if (mapping.host_uid == 0 || mapping.host_gid == 0)
        throw Error("user namespace: the host range must not include root (id 0)");
    const std::uint64_t last_uid = std::uint64_t{mapping.host_uid} + mapping.size - 1;
    const std::uint64_t last_gid = std::uint64_t{mapping.host_gid} + mapping.size - 1;
    if (last_uid >= UINT32_MAX || last_gid >= UINT32_MAX) throw Error("user namespace: the id range ends beyond 4294967294");
}

} // namespace

Fd make_user_namespace(const IdMapping& mapping) {
    check_mapping(mapping);
    Pipe hold = make_pipe();
    // A fork-like clone: the child only closes, reads and exits (safe in a threaded parent).
    const long pid = ::syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, nullptr, nullptr, nullptr, nullptr);
    if (pid < 0) throw_errno("clone", "user namespace");
    if (pid == 0) {
        ::close(hold.write.get());
        char byte;
        (void)!::read(hold.read.get(), &byte, 1);  // returns at EOF: when the parent is done
        ::_exit(0);
    }
    const HeldChild child(static_cast<pid_t>(pid));
    write_map(static_cast<pid_t>(pid), "uid_map", mapping.host_uid, mapping.size);
    write_map(static_cast<pid_t>(pid), "gid_map", mapping.host_gid, mapping.size);
    const std::string ns = "/proc/" + std::to_string(pid) + "/ns/user";
    Fd fd(::open(ns.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw_errno("open", ns);
    return fd;
}

Fd idmapped_tree(const fs::path& dir, int userns_fd) {
    Fd tree(::open_tree(AT_FDCWD, dir.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
    if (!tree) throw_errno("open_tree", dir.string());
    mount_attr attr{};
    attr.attr_set = MOUNT_ATTR_IDMAP;
    attr.userns_fd = static_cast<std::uint64_t>(userns_fd);
    if (::mount_setattr(tree.get(), "", AT_EMPTY_PATH, &attr, sizeof attr) != 0) throw_errno("idmap mount", dir.string());
    return tree;
}

std::uint32_t host_uid(const IdMapping& mapping, std::uint32_t id) { return id < mapping.size ? mapping.host_uid + id : id; }
std::uint32_t host_gid(const IdMapping& mapping, std::uint32_t id) { return id < mapping.size ? mapping.host_gid + id : id; }

std::optional<IdMapping> subordinate_mapping(const std::string& subuid, const std::string& subgid,
                                             const std::vector<std::string>& users, std::uint32_t size) {
    for (const auto& user : users) {
        const auto uids = subordinate_range(subuid, user);
        const auto gids = subordinate_range(subgid, user);
        if (!uids || !gids) continue;
        return IdMapping{uids->start, gids->start, std::min({size, uids->count, gids->count})};
    }
    return std::nullopt;
}

IdRange parse_id_map(const std::string& flag, const std::string& text) {
    const auto first = text.find(':'), second = text.find(':', first + 1);
    const auto bad = [&](const std::string& why) { return Error(flag + " '" + text + "': " + why); };
    if (first == std::string::npos || second == std::string::npos) throw bad("expected CONTAINER:HOST:SIZE, e.g. 0:100000:65536");
    const auto container = number(std::string_view(text).substr(0, first));
    const auto host = number(std::string_view(text).substr(first + 1, second - first - 1));
    const auto size = number(std::string_view(text).substr(second + 1));
    if (!container || !host || !size) throw bad("expected three numbers CONTAINER:HOST:SIZE");
    if (*container != 0) throw bad("strata maps one range, starting at container id 0");
    if (*size == 0) throw bad("the size must be positive");
    return IdRange{*host, *size};
}

} // namespace strata::sandbox
