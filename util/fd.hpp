#pragma once
// A move-only owner of a file descriptor (as ccache's Fd): closed on destruction.
#include <cstddef>
#include <sys/types.h>
#include <utility>

namespace strata {

class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    Fd(Fd&& other) noexcept : fd_(other.release()) {}
    Fd& operator=(Fd&& other) noexcept {
        if (this != &other) reset(other.release());
        return *this;
    }
    ~Fd() { reset(); }

    int get() const noexcept { return fd_; }
    bool valid() const noexcept { return fd_ >= 0; }
    explicit operator bool() const noexcept { return valid(); }
    int release() noexcept { return std::exchange(fd_, -1); }
    void reset(int fd = -1) noexcept;

private:
    int fd_ = -1;
};

// A pipe with both ends close-on-exec.
struct Pipe {
    Fd read;
    Fd write;
};
Pipe make_pipe();

// Reads up to `size` bytes (retrying EINTR); 0 means end of file. Throws on error.
std::size_t read_some(int fd, void* data, std::size_t size, const char* what);

// Writes all of data or throws (retries EINTR and short writes).
void write_all(int fd, const void* data, std::size_t size, const char* what);

// Starts the kernel writing a file's new data to disk as it grows (sync_file_range WRITE,
// which does not wait), so the fsync or syncfs that later makes it durable waits for a
// little instead of all of it. Call wrote() after each write to the file.
class EarlyWriteback {
public:
    void wrote(int fd, std::size_t bytes) noexcept;

private:
    static constexpr off_t stride = 8 << 20;
    off_t written_ = 0;
    off_t started_ = 0;  // writeback started for [0, started_)
};

} // namespace strata
