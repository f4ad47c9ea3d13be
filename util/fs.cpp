#include "util/fs.hpp"

#include "util/error.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <cstdlib>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
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

void DirNames::read(int dir_fd, std::string_view shown) {
    names_.clear();
    entries_.clear();
    constexpr std::size_t buffer_size = 32768;
    if (!buffer_) buffer_.reset(new char[buffer_size]);
    for (;;) {
        const long n = ::syscall(SYS_getdents64, dir_fd, buffer_.get(), buffer_size);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw_errno("getdents64", std::string(shown));
        }
        if (n == 0) break;
        for (long at = 0; at < n;) {
            // struct linux_dirent64: u64 ino, s64 off, u16 reclen, u8 type, char name[]
            unsigned short reclen = 0;
            std::memcpy(&reclen, buffer_.get() + at + 16, sizeof reclen);
            const char* name = buffer_.get() + at + 19;
            at += reclen;
            const std::size_t length = std::strlen(name);
            if ((length == 1 && name[0] == '.') || (length == 2 && name[0] == '.' && name[1] == '.')) continue;
            entries_.push_back({static_cast<std::uint32_t>(names_.size()), static_cast<std::uint32_t>(length)});
            names_.append(name, length + 1);
        }
    }
    std::sort(entries_.begin(), entries_.end(), [this](const Entry& a, const Entry& b) {
        return std::string_view(names_.data() + a.offset, a.length) < std::string_view(names_.data() + b.offset, b.length);
    });
}

void DirNames::read(const fs::path& dir) {
    Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) throw_errno("open", dir.string());
    read(fd.get(), dir.string());
}

std::vector<std::string> sorted_dir_names(const fs::path& dir) {
    DirNames names;
    names.read(dir);
    std::vector<std::string> out;
    out.reserve(names.size());
    for (std::size_t i = 0; i < names.size(); ++i) out.emplace_back(names[i]);
    return out;
}

// Lists xattr names of a path (without following a symlink), sorted.
std::vector<std::string> xattr_names(const fs::path& path) {
    for (;;) {
        const ssize_t size = ::llistxattr(path.c_str(), nullptr, 0);
        if (size < 0) {
            if (errno == ENOTSUP) return {};
            throw_errno("llistxattr", path.string());
        }
        std::vector<char> buf(static_cast<std::size_t>(size));
        const ssize_t got = ::llistxattr(path.c_str(), buf.data(), buf.size());
        if (got < 0) {
            if (errno == ERANGE) continue;  // grew in between
            throw_errno("llistxattr", path.string());
        }
        std::vector<std::string> names;
        for (std::size_t i = 0; i < static_cast<std::size_t>(got);) {
            std::string name(buf.data() + i);
            i += name.size() + 1;
            names.push_back(std::move(name));
        }
        std::sort(names.begin(), names.end());
        return names;
    }
}

// Reads one xattr; nullopt when it is absent.
std::optional<std::string> get_xattr(const fs::path& path, const std::string& name) {
    for (;;) {
        const ssize_t size = ::lgetxattr(path.c_str(), name.c_str(), nullptr, 0);
        if (size < 0) {
            if (errno == ENODATA || errno == ENOTSUP) return std::nullopt;
            throw_errno("lgetxattr " + name, path.string());
        }
        std::string value(static_cast<std::size_t>(size), '\0');
        const ssize_t got = ::lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
        if (got < 0) {
            if (errno == ERANGE) continue;
            throw_errno("lgetxattr " + name, path.string());
        }
        value.resize(static_cast<std::size_t>(got));
        return value;
    }
}

std::vector<std::string> relative_components(std::string_view raw, std::string_view root) {
    if (raw.starts_with('/')) throw Error("absolute name: entries must stay inside the " + std::string(root));
    std::vector<std::string> parts;
    std::size_t start = 0;
    while (start <= raw.size()) {
        std::size_t slash = raw.find('/', start);
        if (slash == std::string_view::npos) slash = raw.size();
        const std::string_view part = raw.substr(start, slash - start);
        start = slash + 1;
        if (part.empty() || part == ".") continue;
        if (part == "..") throw Error("'..' would lead out of the " + std::string(root));
        parts.emplace_back(part);
    }
    return parts;
}

void copy_attributes(const fs::path& from, const fs::path& to, const struct stat& st) {
    if (::lchown(to.c_str(), st.st_uid, st.st_gid) != 0) throw_errno("lchown", to.string());
    if (!S_ISLNK(st.st_mode)) {
        if (::chmod(to.c_str(), st.st_mode & 07777) != 0) throw_errno("chmod", to.string());
        for (const auto& name : xattr_names(from)) {
            const auto value = get_xattr(from, name);
            if (value && ::lsetxattr(to.c_str(), name.c_str(), value->data(), value->size(), 0) != 0)
                throw_errno("lsetxattr " + name, to.string());
        }
    }
    const struct timespec times[2] = {st.st_atim, st.st_mtim};
    if (::utimensat(AT_FDCWD, to.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) throw_errno("utimensat", to.string());
}

namespace {

void copy_file_content(const fs::path& from, const fs::path& to) {
    Fd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!in) throw_errno("open", from.string());
    Fd out(::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!out) throw_errno("create", to.string());
    for (;;) {
        const ssize_t n = ::copy_file_range(in.get(), nullptr, out.get(), nullptr, std::size_t{1} << 30, 0);
        if (n == 0) return;
        if (n > 0) continue;
        if (errno == EINTR) continue;
        if (errno != EXDEV && errno != EINVAL && errno != EOPNOTSUPP && errno != ENOSYS) throw_errno("copy_file_range", to.string());
        break;  // not between these filesystems: bytes through a buffer instead
    }
    char buf[65536];
    while (const std::size_t n = read_some(in.get(), buf, sizeof buf, from.c_str())) write_all(out.get(), buf, n, to.c_str());
}

class TreeCopier {
public:
    void copy(const fs::path& from, const fs::path& to) {
        DirNames names;
        names.read(from);
        for (std::size_t i = 0; i < names.size(); ++i) entry(from / names[i], to / names[i]);
    }

private:
    void entry(const fs::path& source, const fs::path& target) {
        struct stat st {};
        if (::lstat(source.c_str(), &st) != 0) throw_errno("lstat", source.string());
        if (S_ISSOCK(st.st_mode)) return;
        if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
            const auto [it, first] = linked_.try_emplace({st.st_dev, st.st_ino}, target);
            if (!first) {
                if (::link(it->second.c_str(), target.c_str()) != 0) throw_errno("link", target.string());
                return;
            }
        }
        if (S_ISDIR(st.st_mode)) {
            if (::mkdir(target.c_str(), 0700) != 0) throw_errno("mkdir", target.string());
            copy(source, target);
        } else if (S_ISREG(st.st_mode)) {
            copy_file_content(source, target);
        } else if (S_ISLNK(st.st_mode)) {
            if (::symlink(read_link(source).c_str(), target.c_str()) != 0) throw_errno("symlink", target.string());
        } else if (::mknod(target.c_str(), st.st_mode, st.st_rdev) != 0) {
            throw_errno("mknod", target.string());
        }
        copy_attributes(source, target, st);
    }

    std::map<std::pair<dev_t, ino_t>, fs::path> linked_;  // first path of each multiply-linked file
};

} // namespace

void copy_tree(const fs::path& from, const fs::path& to) { TreeCopier().copy(from, to); }

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
