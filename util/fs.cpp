#include "util/fs.hpp"

#include "util/error.hpp"

#include <cerrno>
#include <cstdlib>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace strata {

std::string read_file(const fs::path& path) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw_errno("open", path.string());
    std::string out;
    char buf[65536];
    while (const std::size_t n = read_some(fd.get(), buf, sizeof buf, path.c_str())) out.append(buf, n);
    return out;
}

std::string read_link(const fs::path& path) {
    std::string target(256, '\0');
    for (;;) {
        const ssize_t n = ::readlink(path.c_str(), target.data(), target.size());
        if (n < 0) throw_errno("readlink", path.string());
        if (static_cast<std::size_t>(n) < target.size()) {
            target.resize(static_cast<std::size_t>(n));
            return target;
        }
        target.resize(target.size() * 2);  // possibly truncated: try again with more room
    }
}

void fsync_path(const fs::path& path) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw_errno("open", path.string());
    if (::fsync(fd.get()) != 0) throw_errno("fsync", path.string());
}

namespace {

void write_and_rename(const fs::path& path, std::string_view data, unsigned mode, bool durable) {
    fs::path tmp = path;
    tmp += ".tmp-XXXXXX";
    std::string name = tmp.string();
    Fd fd(::mkostemp(name.data(), O_CLOEXEC));
    if (!fd) throw_errno("mkstemp", name);
    try {
        write_all(fd.get(), data.data(), data.size(), name.c_str());
        if (::fchmod(fd.get(), mode) != 0) throw_errno("fchmod", name);
        if (durable && ::fsync(fd.get()) != 0) throw_errno("fsync", name);
        fd.reset();
        if (::rename(name.c_str(), path.c_str()) != 0) throw_errno("rename", path.string());
    } catch (...) {
        ::unlink(name.c_str());
        throw;
    }
    if (durable) fsync_path(path.parent_path().empty() ? fs::path(".") : path.parent_path());
}

} // namespace

void write_file_atomic(const fs::path& path, std::string_view data, unsigned mode) {
    write_and_rename(path, data, mode, true);
}

void write_file_replace(const fs::path& path, std::string_view data, unsigned mode) {
    write_and_rename(path, data, mode, false);
}

void make_dirs(const fs::path& path, unsigned mode) {
    std::error_code ec;
    fs::create_directories(path, ec);
    if (ec) throw_error_code("mkdir", path.string(), ec.value());
    (void)mode;
}

void remove_tree(const fs::path& path) {
    std::error_code ec;
    fs::remove_all(path, ec);
    if (ec && ec != std::errc::no_such_file_or_directory) throw_error_code("remove", path.string(), ec.value());
}

TempDir::TempDir(const fs::path& parent, std::string_view prefix) {
    make_dirs(parent);
    std::string tmpl = (parent / (std::string(prefix) + "XXXXXX")).string();
    if (!::mkdtemp(tmpl.data())) throw_errno("mkdtemp", tmpl);
    path_ = tmpl;
}

TempDir& TempDir::operator=(TempDir&& other) noexcept {
    if (this != &other) {
        this->~TempDir();
        path_ = std::exchange(other.path_, {});
    }
    return *this;
}

TempDir::~TempDir() {
    if (path_.empty()) return;
    std::error_code ec;
    fs::remove_all(path_, ec);  // best effort: a destructor must not throw
}

FileLock::FileLock(const fs::path& path, Mode mode) : fd_(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644)) {
    if (!fd_) throw_errno("open", path.string());
    const int op = mode == Mode::exclusive ? LOCK_EX : LOCK_SH;
    while (::flock(fd_.get(), op) != 0) {
        if (errno != EINTR) throw_errno("flock", path.string());
    }
}

} // namespace strata
