#include "util/fd.hpp"

#include "util/error.hpp"

#include <cerrno>
#include <fcntl.h>
#include <unistd.h>

namespace strata {

void Fd::reset(int fd) noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
}

Pipe make_pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno("pipe2");
    return Pipe{Fd(fds[0]), Fd(fds[1])};
}

std::size_t read_some(int fd, void* data, std::size_t size, const char* what) {
    for (;;) {
        const ssize_t n = ::read(fd, data, size);
        if (n >= 0) return static_cast<std::size_t>(n);
        if (errno != EINTR) throw_errno("read", what);
    }
}

void write_all(int fd, const void* data, std::size_t size, const char* what) {
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
        ssize_t n = ::write(fd, p, size);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw_errno("write", what);
        }
        p += n;
        size -= static_cast<std::size_t>(n);
    }
}

void EarlyWriteback::wrote(int fd, std::size_t bytes) noexcept {
    written_ += static_cast<off_t>(bytes);
    if (written_ - started_ < stride) return;
    // Only a hint, so its failure (a filesystem without writeback, EINVAL, EIO) is not an
    // error here: durability still comes from the fsync, which does report errors.
    (void)::sync_file_range(fd, started_, written_ - started_, SYNC_FILE_RANGE_WRITE);
    started_ = written_;
}

} // namespace strata
