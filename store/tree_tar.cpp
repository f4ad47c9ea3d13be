// Deterministic tar generation: a sorted walk of a directory, tarred by libarchive
// (restricted pax) into a caller's byte sink. Moved out of layer_write.cpp, which now only
// gzips and stores what this writes, so that `strata export` shares every byte rule.
#include "store/tree_tar.hpp"

#include "store/internal.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"

#include <archive_entry.h>

#include <algorithm>
#include <cerrno>
#include <exception>
#include <fcntl.h>
#include <map>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

namespace strata::store {

namespace {

using Entry = detail::ArchiveEntry;

// libarchive is C: exceptions must not cross it. The callback parks them here.
struct SinkContext {
    const TarSink* sink;
    std::exception_ptr error;
};

la_ssize_t write_callback(archive* a, void* opaque, const void* buffer, size_t length) {
    auto* ctx = static_cast<SinkContext*>(opaque);
    try {
        (*ctx->sink)(buffer, length);
        return static_cast<la_ssize_t>(length);
    } catch (...) {
        ctx->error = std::current_exception();
        archive_set_error(a, EIO, "writing tar failed");
        return -1;
    }
}

struct stat lstat_or_throw(const fs::path& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) throw_errno("lstat", path.string());
    return st;
}

bool is_whiteout_device(const struct stat& st) { return S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0); }

class TreeTarWriter {
public:
    TreeTarWriter(archive* a, const LayerOptions& options, TreeKind kind)
        : a_(a), options_(options), kind_(kind), data_(detail::io_chunk_size) {}

    // Adds every entry below dir, depth first, each directory's children in byte order.
    void add_tree(const fs::path& dir, const std::string& rel_dir) {
        for (const auto& name : sorted_dir_names(dir)) {
            const fs::path path = dir / name;
            const std::string rel = rel_dir.empty() ? name : rel_dir + "/" + name;
            if (name.starts_with(detail::whiteout_prefix))
                throw Error("cannot put '" + path.string() + "' in a layer: '.wh.' names are reserved for whiteouts");
            const struct stat st = lstat_or_throw(path);
            if (is_whiteout_device(st)) {
                if (kind_ == TreeKind::overlay_layer) add_whiteout(rel_dir, name, st);
                continue;
            }
            if (S_ISSOCK(st.st_mode)) continue;  // a socket cannot be tarred (docker skips them too)
            add_entry(path, rel, st);
            if (S_ISDIR(st.st_mode)) {
                if (kind_ == TreeKind::overlay_layer && get_xattr(path, detail::overlay_opaque_xattr) == std::string("y"))
                    add_opaque_marker(rel, st);
                add_tree(path, rel);
            }
        }
    }

private:
    std::uint32_t shift_uid() const { return options_.unshift_ids ? options_.unshift_ids->uid : 0; }
    std::uint32_t shift_gid() const { return options_.unshift_ids ? options_.unshift_ids->gid : 0; }
    std::uint32_t unshift(std::uint32_t id, std::uint32_t base) const {
        if (!options_.unshift_ids || id < base || id - base >= options_.unshift_ids->size) return id;
        return id - base;
    }

    long long clamp(time_t t) const {
        const long long secs = t;
        return options_.source_date_epoch && secs > *options_.source_date_epoch ? *options_.source_date_epoch : secs;
    }

    Entry new_entry(const std::string& rel, const struct stat& st) const {
        Entry e(archive_entry_new());
        if (!e) throw Error("archive_entry_new failed");
        archive_entry_set_pathname(e.get(), rel.c_str());
        archive_entry_set_uid(e.get(), unshift(st.st_uid, shift_uid()));
        archive_entry_set_gid(e.get(), unshift(st.st_gid, shift_gid()));
        archive_entry_set_mtime(e.get(), clamp(st.st_mtim.tv_sec), 0);
        return e;
    }

    void add_entry(const fs::path& path, const std::string& rel, const struct stat& st) {
        Entry e = new_entry(rel, st);
        archive_entry_set_mode(e.get(), st.st_mode);
        add_xattrs(e.get(), path);
        if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
            const auto [it, first] = links_.try_emplace({st.st_dev, st.st_ino}, rel);
            if (!first) {
                archive_entry_set_hardlink(e.get(), it->second.c_str());
                archive_entry_set_size(e.get(), 0);
                write_header(e.get(), rel);
                return;
            }
        }
        if (S_ISLNK(st.st_mode)) archive_entry_set_symlink(e.get(), read_link(path).c_str());
        if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) archive_entry_set_rdev(e.get(), st.st_rdev);
        if (S_ISREG(st.st_mode)) archive_entry_set_size(e.get(), st.st_size);
        write_header(e.get(), rel);
        if (S_ISREG(st.st_mode)) write_file_data(path, st.st_size);
    }

    // Overlay marks a deletion with a 0:0 char device; a layer marks it with an empty `.wh.<name>`.
    void add_whiteout(const std::string& rel_dir, const std::string& name, const struct stat& st) {
        const std::string rel = (rel_dir.empty() ? "" : rel_dir + "/") + std::string(detail::whiteout_prefix) + name;
        Entry e = new_entry(rel, st);
        archive_entry_set_filetype(e.get(), AE_IFREG);
        archive_entry_set_perm(e.get(), 0600);
        archive_entry_set_size(e.get(), 0);
        write_header(e.get(), rel);
    }

    // Overlay marks an opaque directory with an xattr; a layer with a `.wh..wh..opq` file in it.
    void add_opaque_marker(const std::string& dir_rel, const struct stat& dir_st) {
        const std::string rel = dir_rel + "/" + std::string(detail::opaque_marker);
        Entry e = new_entry(rel, dir_st);
        archive_entry_set_filetype(e.get(), AE_IFREG);
        archive_entry_set_perm(e.get(), dir_st.st_mode & 07777 & ~0111u);
        archive_entry_set_size(e.get(), 0);
        write_header(e.get(), rel);
    }

    static void add_xattrs(archive_entry* e, const fs::path& path) {
        auto names = xattr_names(path);
        // libarchive prepends each xattr to its list: add them in reverse to write them sorted.
        std::reverse(names.begin(), names.end());
        for (const auto& name : names) {
            if (!detail::is_portable_xattr(name)) continue;
            if (const auto value = get_xattr(path, name))
                archive_entry_xattr_add_entry(e, name.c_str(), value->data(), value->size());
        }
    }

    void write_header(archive_entry* e, const std::string& rel) {
        if (archive_write_header(a_, e) != ARCHIVE_OK)
            throw Error("tar entry '" + rel + "': " + detail::archive_message(a_));
    }

    // Streams the file in bounded chunks; exactly `size` bytes, as the header promised.
    void write_file_data(const fs::path& path, off_t size) {
        Fd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
        if (!fd) throw_errno("open", path.string());
        off_t left = size;
        while (left > 0) {
            const auto n = static_cast<ssize_t>(
                read_some(fd.get(), data_.data(), std::min<std::size_t>(data_.size(), static_cast<std::size_t>(left)), path.c_str()));
            if (n == 0) throw Error("file '" + path.string() + "' shrank while tarring");
            if (archive_write_data(a_, data_.data(), static_cast<std::size_t>(n)) != n)
                throw Error("tar data of '" + path.string() + "': " + detail::archive_message(a_));
            left -= n;
        }
    }

    archive* a_;
    const LayerOptions& options_;
    TreeKind kind_;
    std::vector<char> data_;
    std::map<std::pair<dev_t, ino_t>, std::string> links_;  // first path of each hardlinked inode
};

} // namespace

void write_tree_tar(const fs::path& dir, const TarSink& sink, const LayerOptions& options, TreeKind kind) {
    SinkContext ctx{&sink, nullptr};
    detail::ArchiveWriter a(archive_write_new());
    if (!a) throw Error("archive_write_new failed");
    // xattrs as SCHILY.xattr records only, as docker and BuildKit write them: libarchive's
    // default adds a LIBARCHIVE.xattr twin of each, noise no other reader needs.
    if (archive_write_set_format_pax_restricted(a.get()) != ARCHIVE_OK ||
        archive_write_set_format_option(a.get(), "pax", "xattrheader", "SCHILY") != ARCHIVE_OK ||
        archive_write_add_filter_none(a.get()) != ARCHIVE_OK ||
        archive_write_open2(a.get(), &ctx, nullptr, write_callback, nullptr, nullptr) != ARCHIVE_OK)
        throw Error("opening tar writer: " + detail::archive_message(a.get()));
    try {
        TreeTarWriter(a.get(), options, kind).add_tree(dir, "");
        if (archive_write_close(a.get()) != ARCHIVE_OK) throw Error("closing tar: " + detail::archive_message(a.get()));
    } catch (...) {
        if (ctx.error) std::rethrow_exception(ctx.error);  // the real cause, not libarchive's echo of it
        throw;
    }
}

} // namespace strata::store
