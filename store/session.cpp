// A process's scratch space in the store. Every temp file, staging snapshot, overlay
// upper/work directory of a run lives in <root>/tmp/session-XXXXXX, next to a lock file
// session-XXXXXX.lock that the process holds with flock(2) for as long as it uses the
// store. The kernel drops the lock when the process dies however it dies (SIGKILL too),
// so the next process that opens the store can tell abandoned sessions from live ones.
#include "store/store.hpp"

#include "util/error.hpp"

#include <cerrno>
#include <fcntl.h>
#include <random>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace strata::store {

namespace {

constexpr std::string_view session_prefix = "session-";
constexpr std::string_view lock_suffix = ".lock";

std::string random_suffix() {
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    std::string s;
    for (int i = 0; i < 10; ++i) s += alphabet[rng() % (sizeof alphabet - 1)];
    return s;
}

// Creates `<tmp_root>/session-XXXX.lock` already locked: the file is made anonymous
// (O_TMPFILE), locked, and only then linked into place, so no other process can ever
// see it unlocked while we live.
std::pair<Fd, std::string> create_locked_session_file(const fs::path& tmp_root) {
    Fd fd(::open(tmp_root.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
    if (!fd) throw_errno("open O_TMPFILE", tmp_root.string());
    if (::flock(fd.get(), LOCK_EX) != 0) throw_errno("flock", tmp_root.string());
    const std::string fd_path = "/proc/self/fd/" + std::to_string(fd.get());
    for (int attempt = 0; attempt < 100; ++attempt) {
        const std::string name = std::string(session_prefix) + random_suffix();
        const fs::path lock_path = tmp_root / (name + std::string(lock_suffix));
        if (::linkat(AT_FDCWD, fd_path.c_str(), AT_FDCWD, lock_path.c_str(), AT_SYMLINK_FOLLOW) == 0)
            return {std::move(fd), name};
        if (errno != EEXIST) throw_errno("link", lock_path.string());
    }
    throw Error("cannot create a session lock in '" + tmp_root.string() + "'");
}

} // namespace

class Store::Session {
public:
    explicit Session(const fs::path& tmp_root) {
        auto [fd, name] = create_locked_session_file(tmp_root);
        lock_ = std::move(fd);
        lock_path_ = tmp_root / (name + std::string(lock_suffix));
        dir_ = tmp_root / name;
        if (::mkdir(dir_.c_str(), 0700) != 0) throw_errno("mkdir", dir_.string());
    }
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;
    ~Session() {
        std::error_code ec;
        fs::remove_all(dir_, ec);
        ::unlink(lock_path_.c_str());
    }
    const fs::path& dir() const noexcept { return dir_; }

private:
    Fd lock_;
    fs::path lock_path_;
    fs::path dir_;
};

const fs::path& Store::tmp_dir() const { return session_->dir(); }

void Store::start_session() {
    remove_abandoned_sessions(root_ / "tmp");
    session_ = std::make_shared<Session>(root_ / "tmp");
}

std::size_t remove_abandoned_sessions(const fs::path& tmp_root) {
    std::size_t removed = 0;
    std::error_code ec;
    for (fs::directory_iterator it(tmp_root, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (!name.starts_with(session_prefix) || !name.ends_with(lock_suffix)) continue;
        Fd fd(::open(it->path().c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW));
        if (!fd || ::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) continue;  // gone, or its owner lives
        const fs::path dir = tmp_root / name.substr(0, name.size() - lock_suffix.size());
        remove_tree(dir);
        ::unlink(it->path().c_str());  // only after the directory: a lock file always outlives its dir
        ++removed;
    }
    return removed;
}

} // namespace strata::store
