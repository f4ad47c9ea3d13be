// Tar extraction for ADD. libarchive reads and decompresses; the writing is ours, through
// directory fds opened one component at a time with O_NOFOLLOW, so an entry can only land
// inside the destination whatever the archive (or an earlier entry of it) put there.
#include "builder/archive.hpp"

#include "builder/walk.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <cerrno>
#include <cstdint>
#include <fcntl.h>
#include <memory>
#include <string>
#include <string_view>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <utility>
#include <vector>

namespace strata::builder {

namespace {

struct ArchiveReadFree {
    void operator()(archive* a) const noexcept { archive_read_free(a); }
};
using ArchiveReader = std::unique_ptr<archive, ArchiveReadFree>;

std::string archive_message(archive* a) {
    const char* message = archive_error_string(a);
    return message ? message : "unknown libarchive error";
}

// The compressions docker recognises for ADD; nothing else (no zip, no cpio).
ArchiveReader open_archive(const fs::path& file) {
    ArchiveReader a(archive_read_new());
    if (!a) throw Error("archive_read_new failed");
    archive_read_support_filter_gzip(a.get());
    archive_read_support_filter_bzip2(a.get());
    archive_read_support_filter_xz(a.get());
    archive_read_support_filter_zstd(a.get());
    archive_read_support_format_tar(a.get());
    if (archive_read_open_filename(a.get(), file.c_str(), 1 << 16) != ARCHIVE_OK)
        throw Error("open archive '" + file.string() + "': " + archive_message(a.get()));
    return a;
}

// The wording of the reasons is what the user reads after the entry's name.
std::vector<std::string> entry_components(std::string_view raw) {
    auto parts = relative_components(raw, "destination");
    for (const auto& part : parts)
        if (part.starts_with(".wh.")) throw Error("'.wh.' names are reserved for whiteouts in image layers");
    return parts;
}

std::string join_components(const std::vector<std::string>& parts, std::size_t count) {
    std::string out;
    for (std::size_t i = 0; i < count; ++i) out = child_rel(out, parts[i]);
    return out;
}

struct EntryTimes {
    struct timespec times[2];  // atime, mtime
};

EntryTimes times_of(archive_entry* e) {
    EntryTimes t{};
    t.times[1] = {static_cast<time_t>(archive_entry_mtime(e)), archive_entry_mtime_nsec(e)};
    t.times[0] = archive_entry_atime_is_set(e)
                     ? timespec{static_cast<time_t>(archive_entry_atime(e)), archive_entry_atime_nsec(e)}
                     : t.times[1];
    return t;
}

unsigned checked_id(la_int64_t id, const char* what) {
    if (id < 0 || id >= 0xFFFFFFFFLL) throw Error(std::string("invalid ") + what + " " + std::to_string(id));
    return static_cast<unsigned>(id);
}

void pwrite_all(int fd, const void* data, std::size_t size, la_int64_t offset, const std::string& what) {
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
        const ssize_t n = ::pwrite(fd, p, size, offset);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw_errno("write", what);
        p += n;
        size -= static_cast<std::size_t>(n);
        offset += n;
    }
}

// user.* and security.capability, as the layer writer keeps; best effort, as docker's
// untar sets them (a filesystem without user xattrs must not fail the build).
void set_portable_xattrs(int fd, archive_entry* e) {
    archive_entry_xattr_reset(e);
    const char* name = nullptr;
    const void* value = nullptr;
    std::size_t size = 0;
    while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
        const std::string_view n(name ? name : "");
        if (n == "security.capability" || n.starts_with("user.")) (void)::fsetxattr(fd, name, value, size, 0);
    }
}

class Extractor {
public:
    Extractor(const fs::path& dest, const fs::path& lower) : dest_(dest), lower_(lower) {
        dest_fd_ = Fd(::open(dest.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!dest_fd_) throw_errno("open", dest.string());
    }

    void run(archive* a) {
        for (;;) {
            archive_entry* e = nullptr;
            const int rc = archive_read_next_header(a, &e);
            if (rc == ARCHIVE_EOF) break;
            if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) throw Error("reading archive: " + archive_message(a));
            const std::string raw = archive_entry_pathname(e) ? archive_entry_pathname(e) : "";
            with_context("tar entry '" + raw + "'", [&] { extract_entry(a, e, entry_components(raw)); });
        }
        apply_dir_times();
    }

private:
    void extract_entry(archive* a, archive_entry* e, const std::vector<std::string>& parts) {
        const std::string rel = join_components(parts, parts.size());
        if (const char* link = archive_entry_hardlink(e)) return hard_link(parts, link);
        const auto type = archive_entry_filetype(e);
        if (parts.empty()) {
            // The archive's own root ("./") is the destination, which exists already. Its
            // metadata is not applied: with ADD x.tar / that would chmod the layer's root,
            // which the layer tar does not carry, so a local snapshot would differ from a pull.
            if (type != AE_IFDIR) throw Error("the archive root is not a directory");
            return;
        }
        Fd parent = open_dir(parts, parts.size() - 1, true);
        const std::string& name = parts.back();
        switch (type) {
        case AE_IFDIR: return make_directory(parent.get(), name, e, rel);
        case AE_IFREG: return write_file(a, parent.get(), name, e, rel);
        case AE_IFLNK: return make_symlink(parent.get(), name, e, rel);
        case AE_IFIFO: return make_fifo(parent.get(), name, e, rel);
        default: break;
        }
        throw Error("device nodes and sockets are not extracted (an overlay snapshot reads a 0:0 character device as a deletion)");
    }

    // The directory made of the first `count` parts, each a real directory below the
    // destination (never a symlink); missing ones are created when `create`, else an
    // invalid Fd is returned.
    Fd open_dir(const std::vector<std::string>& parts, std::size_t count, bool create) {
        Fd cur(::openat(dest_fd_.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!cur) throw_errno("open", dest_.string());
        for (std::size_t i = 0; i < count; ++i) {
            const std::string& name = parts[i];
            const std::string walked = join_components(parts, i + 1);
            int fd = ::openat(cur.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (fd < 0 && errno == ENOENT) {
                if (!create) return Fd();
                make_missing_dir(cur.get(), name, walked);
                fd = ::openat(cur.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            }
            if (fd < 0) {
                if (errno != ELOOP && errno != ENOTDIR) throw_errno("open", walked);
                struct stat st {};
                if (::fstatat(cur.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
                    throw Error("'" + walked + "' is a symbolic link, and ADD does not extract through links");
                throw Error("'" + walked + "' is not a directory");
            }
            cur = Fd(fd);
        }
        return cur;
    }

    // A directory the archive does not list: as in the image below when it has one there
    // (docker extracts onto the image itself), else 0755 root:root as docker's untar makes it.
    void make_missing_dir(int parent, const std::string& name, const std::string& walked) {
        struct stat lower {};
        const bool in_lower = ::lstat((lower_ / walked).c_str(), &lower) == 0 && S_ISDIR(lower.st_mode);
        if (::mkdirat(parent, name.c_str(), 0700) != 0) throw_errno("mkdir", walked);
        const unsigned mode = in_lower ? lower.st_mode & 07777 : 0755;
        if (::fchownat(parent, name.c_str(), in_lower ? lower.st_uid : 0, in_lower ? lower.st_gid : 0, AT_SYMLINK_NOFOLLOW) != 0)
            throw_errno("chown", walked);
        if (::fchmodat(parent, name.c_str(), mode, 0) != 0) throw_errno("chmod", walked);
        if (in_lower) {
            const struct timespec times[2] = {lower.st_atim, lower.st_mtim};
            if (::utimensat(parent, name.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) throw_errno("utimensat", walked);
        }
    }

    // Makes room for a new entry: an existing directory stays only when the entry is one
    // too (the two merge, as with `tar -x`); anything else is replaced.
    void remove_existing(int parent, const std::string& name, const std::string& rel, bool keep_dir) {
        struct stat st {};
        if (::fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno == ENOENT) return;
            throw_errno("lstat", rel);
        }
        if (S_ISDIR(st.st_mode)) {
            if (!keep_dir) remove_tree(dest_ / rel);  // every component of rel is a real directory
            return;
        }
        if (::unlinkat(parent, name.c_str(), 0) != 0) throw_errno("unlink", rel);
    }

    void apply_metadata(int fd, archive_entry* e, const std::string& rel) {
        const unsigned uid = checked_id(archive_entry_uid(e), "uid");
        const unsigned gid = checked_id(archive_entry_gid(e), "gid");
        if (::fchown(fd, uid, gid) != 0) throw_errno("chown", rel);
        // After chown, which clears set-id bits and file capabilities.
        if (::fchmod(fd, archive_entry_perm(e) & 07777) != 0) throw_errno("chmod", rel);
        set_portable_xattrs(fd, e);
    }

    void make_directory(int parent, const std::string& name, archive_entry* e, const std::string& rel) {
        remove_existing(parent, name, rel, true);
        if (::mkdirat(parent, name.c_str(), 0700) != 0 && errno != EEXIST) throw_errno("mkdir", rel);
        Fd dir(::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!dir) throw_errno("open", rel);
        apply_metadata(dir.get(), e, rel);
        dir_times_.emplace_back(rel, times_of(e));  // set last: writing its entries changes them
    }

    void write_file(archive* a, int parent, const std::string& name, archive_entry* e, const std::string& rel) {
        remove_existing(parent, name, rel, false);
        Fd out(::openat(parent, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
        if (!out) throw_errno("create", rel);
        la_int64_t end = 0;
        for (;;) {
            const void* buf = nullptr;
            std::size_t size = 0;
            la_int64_t offset = 0;
            const int rc = archive_read_data_block(a, &buf, &size, &offset);
            if (rc == ARCHIVE_EOF) break;
            if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) throw Error("reading data: " + archive_message(a));
            pwrite_all(out.get(), buf, size, offset, rel);  // offsets leave holes of sparse files
            end = std::max(end, offset + static_cast<la_int64_t>(size));
        }
        if (archive_entry_size_is_set(e) && archive_entry_size(e) > end && ::ftruncate(out.get(), archive_entry_size(e)) != 0)
            throw_errno("truncate", rel);
        apply_metadata(out.get(), e, rel);
        const EntryTimes t = times_of(e);
        if (::futimens(out.get(), t.times) != 0) throw_errno("utimensat", rel);
    }

    void make_symlink(int parent, const std::string& name, archive_entry* e, const std::string& rel) {
        const char* target = archive_entry_symlink(e);
        if (!target || !*target) throw Error("symbolic link without a target");
        remove_existing(parent, name, rel, false);
        // The target is only text: nothing is ever written through it (open_dir refuses links).
        if (::symlinkat(target, parent, name.c_str()) != 0) throw_errno("symlink", rel);
        if (::fchownat(parent, name.c_str(), checked_id(archive_entry_uid(e), "uid"), checked_id(archive_entry_gid(e), "gid"),
                       AT_SYMLINK_NOFOLLOW) != 0)
            throw_errno("lchown", rel);
        const EntryTimes t = times_of(e);
        if (::utimensat(parent, name.c_str(), t.times, AT_SYMLINK_NOFOLLOW) != 0) throw_errno("utimensat", rel);
    }

    void make_fifo(int parent, const std::string& name, archive_entry* e, const std::string& rel) {
        remove_existing(parent, name, rel, false);
        if (::mkfifoat(parent, name.c_str(), 0600) != 0) throw_errno("mkfifo", rel);
        if (::fchownat(parent, name.c_str(), checked_id(archive_entry_uid(e), "uid"), checked_id(archive_entry_gid(e), "gid"),
                       AT_SYMLINK_NOFOLLOW) != 0)
            throw_errno("chown", rel);
        if (::fchmodat(parent, name.c_str(), archive_entry_perm(e) & 07777, 0) != 0) throw_errno("chmod", rel);
        const EntryTimes t = times_of(e);
        if (::utimensat(parent, name.c_str(), t.times, AT_SYMLINK_NOFOLLOW) != 0) throw_errno("utimensat", rel);
    }

    // A hard link may only point at a file already extracted below the destination.
    void hard_link(const std::vector<std::string>& parts, const char* link) {
        const auto target = with_context("hard link target '" + std::string(link) + "'", [&] { return entry_components(link); });
        if (parts.empty() || target.empty()) throw Error("hard link to or from the destination directory itself");
        if (target == parts) return;  // a link to itself: the file is already there
        const std::string target_rel = join_components(target, target.size());
        Fd target_dir = open_dir(target, target.size() - 1, false);
        struct stat st {};
        if (!target_dir || ::fstatat(target_dir.get(), target.back().c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
            throw Error("hard link target '" + target_rel + "' is not in the archive (before this entry)");
        if (S_ISDIR(st.st_mode)) throw Error("hard link to the directory '" + target_rel + "'");
        Fd parent = open_dir(parts, parts.size() - 1, true);
        const std::string rel = join_components(parts, parts.size());
        remove_existing(parent.get(), parts.back(), rel, false);
        if (::linkat(target_dir.get(), target.back().c_str(), parent.get(), parts.back().c_str(), 0) != 0)
            throw_errno("link", rel);
    }

    // Deepest first, so setting a parent's times comes after its children changed it. A
    // directory a later entry replaced is gone: its times no longer matter.
    void apply_dir_times() {
        for (auto it = dir_times_.rbegin(); it != dir_times_.rend(); ++it) {
            std::vector<std::string> parts;
            for (const auto& p : fs::path(it->first)) parts.push_back(p.string());
            Fd dir;
            try {
                dir = open_dir(parts, parts.size(), false);
            } catch (const Error&) {
                continue;
            }
            if (dir && ::futimens(dir.get(), it->second.times) != 0) throw_errno("utimensat", it->first);
        }
    }

    fs::path dest_;
    fs::path lower_;
    Fd dest_fd_;
    std::vector<std::pair<std::string, EntryTimes>> dir_times_;
};

} // namespace

bool is_tar_archive(const fs::path& file) {
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) return false;
    try {
        ArchiveReader a = open_archive(file);
        archive_entry* e = nullptr;
        const int rc = archive_read_next_header(a.get(), &e);
        return rc == ARCHIVE_OK || rc == ARCHIVE_WARN;
    } catch (const Error&) {
        return false;
    }
}

void extract_tar(const fs::path& archive, const fs::path& dest_dir, const fs::path& lower_dest) {
    ArchiveReader a = open_archive(archive);
    Extractor(dest_dir, lower_dest).run(a.get());
}

} // namespace strata::builder
