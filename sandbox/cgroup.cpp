// What both cgroup managers share: file operations, /proc/self/cgroup parsing, emptying
// and removing a cgroup, and choosing a manager for this machine.
#include "sandbox/cgroup.hpp"

#include "sandbox/probe.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"

#include <atomic>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <fcntl.h>
#include <random>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace strata::sandbox {

void CgroupFs::make_dir(const fs::path& dir) {
    if (::mkdir(dir.c_str(), 0755) != 0) throw_errno("mkdir", dir.string());
}

void CgroupFs::remove_dir(const fs::path& dir) {
    if (::rmdir(dir.c_str()) != 0) throw_errno("rmdir", dir.string());
}

std::string CgroupFs::read(const fs::path& file) { return read_file(file); }

void CgroupFs::write(const fs::path& file, std::string_view value) {
    Fd fd(::open(file.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd) throw_errno("open", file.string());
    ssize_t n;
    do {
        n = ::write(fd.get(), value.data(), value.size());
    } while (n < 0 && errno == EINTR);
    if (n < 0) throw_errno("write", file.string());
    if (static_cast<std::size_t>(n) != value.size()) throw Error("write '" + file.string() + "': short write");
}

bool CgroupFs::exists(const fs::path& path) {
    struct stat st;
    return ::lstat(path.c_str(), &st) == 0;
}

namespace {

// Splits text into lines without the '\n'.
template <typename Fn>
void for_each_line(std::string_view text, Fn&& fn) {
    while (!text.empty()) {
        const auto end = text.find('\n');
        fn(text.substr(0, end));
        if (end == std::string_view::npos) break;
        text.remove_prefix(end + 1);
    }
}

bool list_contains(std::string_view list, char separator, std::string_view item) {
    while (!list.empty()) {
        const auto end = list.find(separator);
        if (list.substr(0, end) == item) return true;
        if (end == std::string_view::npos) break;
        list.remove_prefix(end + 1);
    }
    return false;
}

std::vector<pid_t> parse_pids(std::string_view text) {
    std::vector<pid_t> pids;
    for_each_line(text, [&](std::string_view line) {
        pid_t pid = 0;
        auto [ptr, ec] = std::from_chars(line.data(), line.data() + line.size(), pid);
        if (ec == std::errc() && ptr == line.data() + line.size() && pid > 0) pids.push_back(pid);
    });
    return pids;
}

} // namespace

std::string cgroup_v2_path(std::string_view proc_self_cgroup) {
    std::optional<std::string> found;
    for_each_line(proc_self_cgroup, [&](std::string_view line) {
        if (line.substr(0, 3) == "0::") found = std::string(line.substr(3));
    });
    if (!found) throw Error("/proc/self/cgroup has no cgroup v2 entry (\"0::/path\")");
    return *found;
}

std::optional<V1Membership> cgroup_v1_membership(std::string_view proc_self_cgroup, std::string_view controller) {
    std::optional<V1Membership> found;
    for_each_line(proc_self_cgroup, [&](std::string_view line) {
        // "4:memory:/process_api/x" or "2:cpu,cpuacct:/"
        const auto first = line.find(':');
        if (first == std::string_view::npos) return;
        const auto second = line.find(':', first + 1);
        if (second == std::string_view::npos) return;
        const auto controllers = line.substr(first + 1, second - first - 1);
        if (!list_contains(controllers, ',', controller)) return;
        found = V1Membership{std::string(controllers), std::string(line.substr(second + 1))};
    });
    return found;
}

std::optional<std::int64_t> flat_keyed_value(std::string_view contents, std::string_view key) {
    std::optional<std::int64_t> value;
    for_each_line(contents, [&](std::string_view line) {
        if (line.size() <= key.size() || line.substr(0, key.size()) != key || line[key.size()] != ' ') return;
        const auto number = line.substr(key.size() + 1);
        std::int64_t v = 0;
        auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), v);
        if (ec == std::errc() && ptr == number.data() + number.size()) value = v;
    });
    return value;
}

void empty_and_remove_cgroup(CgroupFs& fs, const fs::path& dir, bool use_kill_file) {
    const auto procs = dir / "cgroup.procs";
    const bool kill_file = use_kill_file && fs.exists(dir / "cgroup.kill");
    // Processes leave cgroup.procs only once they have exited; killing is asynchronous, and
    // a process may fork while we read, so kill and re-read until the list is empty.
    constexpr int max_rounds = 1000;  // 10 s in 10 ms steps: a SIGKILLed process cannot hold out longer
    for (int round = 0;; ++round) {
        const auto pids = parse_pids(fs.read(procs));
        if (pids.empty()) break;
        if (round == max_rounds) throw Error("cgroup '" + dir.string() + "': processes survive SIGKILL");
        if (kill_file) {
            fs.write(dir / "cgroup.kill", "1");
        } else {
            for (pid_t pid : pids) ::kill(pid, SIGKILL);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    // An exited process can keep the cgroup busy for a moment after leaving cgroup.procs.
    for (int attempt = 0;; ++attempt) {
        try {
            fs.remove_dir(dir);
            return;
        } catch (const SysError& e) {
            if (e.error_code() == ENOENT) return;
            if (e.error_code() != EBUSY || attempt == 100) throw;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

void validate_limits(const Limits& limits) {
    if (limits.memory_bytes && *limits.memory_bytes <= 0) throw Error("memory limit must be positive");
    if (limits.pids && *limits.pids <= 0) throw Error("pids limit must be positive");
    if (limits.memory_swap_bytes) {
        if (!limits.memory_bytes) throw Error("a memory+swap limit needs a memory limit as well (as docker's --memory-swap does)");
        if (*limits.memory_swap_bytes != -1 && *limits.memory_swap_bytes < *limits.memory_bytes)
            throw Error("the memory+swap limit must be at least the memory limit, or -1 for unlimited swap");
    }
    // The kernel's minimum quota is 1 ms per period.
    if (limits.cpu_quota_us && *limits.cpu_quota_us < 1000) throw Error("CPU limit too small: at least 0.01 CPUs");
}

namespace {

std::string unique_cgroup_name() {
    static std::atomic<unsigned> counter{0};
    std::random_device random;
    char suffix[9];
    const auto [end, ec] = std::to_chars(suffix, suffix + 8, random() & 0xffffffffu, 16);
    (void)ec;
    return "strata-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" + std::string(suffix, end);
}

bool limits_requested(const Limits& limits) { return limits.memory_bytes || limits.pids || limits.cpu_quota_us; }

// "strata-123-0-ab12" -> 123.
std::optional<pid_t> owner_pid(const std::string& name) {
    constexpr std::string_view prefix = "strata-";
    if (!name.starts_with(prefix)) return std::nullopt;
    pid_t pid = 0;
    const char* begin = name.data() + prefix.size();
    const auto [end, ec] = std::from_chars(begin, name.data() + name.size(), pid);
    if (ec != std::errc() || end == begin || *end != '-' || pid <= 0) return std::nullopt;
    return pid;
}

bool process_exists(pid_t pid) { return ::kill(pid, 0) == 0 || errno != ESRCH; }

} // namespace

std::size_t remove_abandoned_cgroups(CgroupFs& cfs, const std::filesystem::path& parent) {
    std::size_t removed = 0;
    std::error_code ec;
    for (std::filesystem::directory_iterator it(parent, ec), end; !ec && it != end; it.increment(ec)) {
        const auto pid = owner_pid(it->path().filename().string());
        if (!pid || process_exists(*pid) || !it->is_directory()) continue;
        try {
            empty_and_remove_cgroup(cfs, it->path(), false);
            ++removed;
        } catch (const Error&) {
            // Another strata may be sweeping the same cgroup; it is gone either way.
        }
    }
    return removed;
}

std::unique_ptr<RunCgroup> create_run_cgroup(const Limits& limits) {
    static CgroupFs real_fs;
    const auto version = cgroup_version();
    if (version == CgroupVersion::none) {
        if (limits_requested(limits)) throw Error("resource limits need cgroups, but no usable cgroup hierarchy was found");
        return nullptr;
    }
    CgroupLocation where;
    where.proc_self_cgroup = read_file("/proc/self/cgroup");
    where.name = unique_cgroup_name();
    try {
        return version == CgroupVersion::v2 ? create_cgroup_v2(real_fs, where, limits) : create_cgroup_v1(real_fs, where, limits);
    } catch (Error& e) {
        // Without limits the cgroup only adds OOM reporting and cleanup; a run can do without.
        if (!limits_requested(limits)) return nullptr;
        e.add_context("creating the run's cgroup");
        throw;
    }
}

} // namespace strata::sandbox
