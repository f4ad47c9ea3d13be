// Content digests of COPY sources for cache keys: names, types, permission bits, contents
// and link targets; never mtimes, owners or absolute paths, so clones elsewhere share them.
// The walk works on directory fds (fstatat, openat) and reuses its string buffers, so an
// unchanged 20,000-file context costs one fstatat per entry and no allocation per file.
#include "builder/context_hashes.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"

#include <algorithm>
#include <cstdint>
#include <dirent.h>
#include <fcntl.h>
#include <memory>
#include <sys/stat.h>
#include <unistd.h>

namespace strata::builder {

namespace detail {

std::string hash_file_content(int dir_fd, const char* name, const std::string& shown, struct stat* after) {
    Fd fd(::openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) throw_errno("open", shown);
    Sha256 content;
    char buf[65536];
    while (const std::size_t n = read_some(fd.get(), buf, sizeof buf, shown.c_str())) content.update(buf, n);
    if (after && ::fstat(fd.get(), after) != 0) throw_errno("fstat", shown);
    return content.hex();
}

void ReadEveryFile::content_digest(int dir_fd, const char* name, const std::string&, const std::string& shown,
                                   const struct stat&, std::string& hex) {
    hex = hash_file_content(dir_fd, name, shown);
}

namespace {

struct DirCloser {
    void operator()(DIR* d) const noexcept { ::closedir(d); }
};
using DirHandle = std::unique_ptr<DIR, DirCloser>;

std::string octal_mode(mode_t mode) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
    return buf;
}

// One walk. The bytes hashed per entry are those hash_source has always hashed:
//   label '\0' type [mode in decimal] '\0' then "\n" (dir), target "\n" (link),
//   content hex "\n" (file) or rdev "\n" (other)
// where the label is "." for the source itself and "./a/b" below it.
class TreeHasher {
public:
    TreeHasher(const CopySource& source, const ContextFilter& filter, const HashOptions& options,
               FileDigests& files, std::vector<ListingEntry>* listing)
        : filter_(filter), options_(options), files_(files), listing_(listing), root_(source.path.string()),
          label_("."), rel_(source.rel) {}

    std::string run() {
        struct stat st {};
        if (::fstatat(AT_FDCWD, root_.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) throw_errno("lstat", root_);
        entry(AT_FDCWD, root_.c_str(), st);
        return hash_.digest();
    }

private:
    // The entry's host path, for errors (a reused buffer: built per file, never allocated per file).
    const std::string& shown() {
        shown_.assign(root_).append(label_, 1);
        return shown_;
    }

    void read_link_at(int dir_fd, const char* name) {
        link_.resize(256);
        for (;;) {
            const ssize_t n = ::readlinkat(dir_fd, name, link_.data(), link_.size());
            if (n < 0) throw_errno("readlink", shown());
            if (static_cast<std::size_t>(n) < link_.size()) {
                link_.resize(static_cast<std::size_t>(n));
                return;
            }
            link_.resize(link_.size() * 2);  // possibly truncated: again with more room
        }
    }

    void entry(int dir_fd, const char* name, const struct stat& st) {
        char type = 'o';
        if (S_ISDIR(st.st_mode)) type = 'd';
        else if (S_ISLNK(st.st_mode)) type = 'l';
        else if (S_ISREG(st.st_mode)) type = 'f';

        bytes_.assign(label_);
        bytes_ += '\0';
        bytes_ += type;
        if (options_.include_mode) bytes_ += std::to_string(st.st_mode & 07777);
        bytes_ += '\0';
        std::string detail;  // what the listing shows after the type and mode
        switch (type) {
        case 'd': break;
        case 'l':
            read_link_at(dir_fd, name);
            bytes_ += link_;
            if (listing_) detail = " -> " + link_;
            break;
        case 'f':
            files_.content_digest(dir_fd, name, rel_, shown(), st, hex_);
            bytes_ += hex_;
            if (listing_) detail = " " + hex_;
            break;
        default:
            bytes_ += std::to_string(st.st_rdev);
            if (listing_) detail = " rdev=" + std::to_string(st.st_rdev);
        }
        bytes_ += '\n';
        hash_.update(bytes_);
        if (listing_) {
            std::string description(1, type);
            if (options_.include_mode) description += octal_mode(st.st_mode);
            listing_->push_back({rel_.empty() ? "." : rel_, description + detail});
        }
        if (type == 'd') children(dir_fd, name);
    }

    void children(int parent_fd, const char* name) {
        const int fd = ::openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) throw_errno("open", shown());
        DirHandle dir(::fdopendir(fd));
        if (!dir) {
            ::close(fd);
            throw_errno("opendir", shown());
        }
        // All names of the directory in one buffer (no allocation per entry), sorted so
        // every walk (hash, copy, tar) visits them in one order.
        std::string buffer;
        std::vector<std::pair<std::uint32_t, std::uint32_t>> names;  // offset, length
        errno = 0;
        while (const dirent* e = ::readdir(dir.get())) {
            const std::string_view n = e->d_name;
            if (n == "." || n == "..") continue;
            names.emplace_back(static_cast<std::uint32_t>(buffer.size()), static_cast<std::uint32_t>(n.size()));
            buffer.append(n).push_back('\0');  // NUL-terminated for fstatat and openat
        }
        if (errno != 0) throw_errno("readdir", shown());
        const auto name_of = [&](const std::pair<std::uint32_t, std::uint32_t>& n) {
            return std::string_view(buffer.data() + n.first, n.second);
        };
        std::sort(names.begin(), names.end(), [&](const auto& a, const auto& b) { return name_of(a) < name_of(b); });

        const std::size_t label_size = label_.size();
        const std::size_t rel_size = rel_.size();
        for (const auto& n : names) {
            const std::string_view child = name_of(n);
            const char* child_c = buffer.data() + n.first;
            label_.append("/").append(child);
            if (!rel_.empty()) rel_ += '/';
            rel_ += child;
            struct stat st {};
            if (::fstatat(::dirfd(dir.get()), child_c, &st, AT_SYMLINK_NOFOLLOW) != 0) throw_errno("lstat", shown());
            if (!filter_.skip(rel_, S_ISDIR(st.st_mode))) entry(::dirfd(dir.get()), child_c, st);
            label_.resize(label_size);
            rel_.resize(rel_size);
        }
    }

    const ContextFilter& filter_;
    const HashOptions& options_;
    FileDigests& files_;
    std::vector<ListingEntry>* listing_;
    const std::string root_;
    std::string label_;  // "." + "/name"... of the current entry
    std::string rel_;    // its path relative to the root the source was matched in
    std::string bytes_, hex_, link_, shown_;  // reused per entry
    Sha256 hash_;
};

} // namespace

std::string hash_tree(const CopySource& source, const ContextFilter& filter, const HashOptions& options,
                      FileDigests& files, std::vector<ListingEntry>* listing) {
    return TreeHasher(source, filter, options, files, listing).run();
}

} // namespace detail

std::string hash_source(const CopySource& source, const ContextFilter& filter) {
    detail::ReadEveryFile files;
    return detail::hash_tree(source, filter, {}, files);
}

} // namespace strata::builder
