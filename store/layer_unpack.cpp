// Layer unpacking: decompress (gzip/zstd/plain, from the magic bytes) while hashing both
// the blob and the tar, and extract with libarchive's secure flags into a directory,
// turning whiteout entries into overlay's format (or applying them, when flattening).
#include "store/internal.hpp"
#include "store/store.hpp"

#include "util/sha256.hpp"

#include <archive_entry.h>
#include <zlib.h>
#include <zstd.h>

#include <cerrno>
#include <dirent.h>
#include <exception>
#include <fcntl.h>
#include <set>
#include <span>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

namespace strata::store {

namespace detail {

Fd open_dir_beneath(int root_fd, std::string_view rel, bool create) {
    Fd cur(::openat(root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!cur) throw_errno("open", ".");
    std::size_t start = 0;
    while (start < rel.size()) {
        const std::size_t slash = rel.find('/', start);
        const std::string name(rel.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
        start = slash == std::string_view::npos ? rel.size() : slash + 1;
        if (name.empty() || name == "." || name == "..") throw Error("bad path component in '" + std::string(rel) + "'");
        for (;;) {
            const int fd = ::openat(cur.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (fd >= 0) {
                cur = Fd(fd);
                break;
            }
            if (errno == ELOOP || errno == ENOTDIR)
                throw Error("'" + std::string(rel) + "' leads through '" + name + "', which is a symlink or not a directory");
            if (errno != ENOENT) throw_errno("open", std::string(rel));
            if (!create) return Fd();
            if (::mkdirat(cur.get(), name.c_str(), 0755) != 0 && errno != EEXIST) throw_errno("mkdir", std::string(rel));
        }
    }
    return cur;
}

} // namespace detail

namespace {

struct ZstdFree {
    void operator()(ZSTD_DStream* s) const noexcept { ZSTD_freeDStream(s); }
};

// Reads a layer blob and yields its uncompressed tar in bounded chunks, hashing both.
class LayerDecoder {
public:
    explicit LayerDecoder(const fs::path& blob) : path_(blob.string()), in_(detail::io_chunk_size), out_(detail::io_chunk_size) {
        fd_ = Fd(::open(blob.c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd_) throw_errno("open", path_);
        unsigned char magic[4] = {};
        const ssize_t n = ::pread(fd_.get(), magic, sizeof magic, 0);
        if (n < 0) throw_errno("read", path_);
        if (n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
            codec_ = Codec::gzip;
            if (inflateInit2(&z_, 15 + 16) != Z_OK) throw Error("inflateInit2 failed");
        } else if (n == 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd) {
            codec_ = Codec::zstd;
            zstd_.reset(ZSTD_createDStream());
            if (!zstd_) throw Error("ZSTD_createDStream failed");
        }
    }
    ~LayerDecoder() {
        if (codec_ == Codec::gzip) inflateEnd(&z_);
    }
    LayerDecoder(const LayerDecoder&) = delete;
    LayerDecoder& operator=(const LayerDecoder&) = delete;

    // The next chunk of the tar; empty at its end.
    std::span<const char> next() {
        for (;;) {
            if (done_) return {};
            if (in_pos_ == in_len_ && !refill()) {
                if (codec_ != Codec::plain && !between_frames_) throw Error("layer '" + path_ + "' is truncated");
                done_ = true;
                return {};
            }
            const auto chunk = codec_ == Codec::plain ? take_plain() : codec_ == Codec::gzip ? inflate_some() : zstd_some();
            if (!chunk.empty()) {
                tar_hash_.update(chunk.data(), chunk.size());
                return chunk;
            }
        }
    }
    // Consumes what the tar reader left (end-of-archive padding), so both hashes cover everything.
    void drain() {
        while (!next().empty()) {
        }
    }
    std::string diff_id() { return tar_hash_.digest(); }
    std::string blob_digest() { return blob_hash_.digest(); }

private:
    enum class Codec { plain, gzip, zstd };

    bool refill() {
        for (;;) {
            const ssize_t n = ::read(fd_.get(), in_.data(), in_.size());
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) throw_errno("read", path_);
            in_pos_ = 0;
            in_len_ = static_cast<std::size_t>(n);
            blob_hash_.update(in_.data(), in_len_);
            return n > 0;
        }
    }

    std::span<const char> take_plain() {
        const std::span<const char> chunk(in_.data() + in_pos_, in_len_ - in_pos_);
        in_pos_ = in_len_;
        return chunk;
    }

    // gzip members may be concatenated (pigz, some registries): decode them all.
    std::span<const char> inflate_some() {
        z_.next_in = reinterpret_cast<Bytef*>(in_.data() + in_pos_);
        z_.avail_in = static_cast<uInt>(in_len_ - in_pos_);
        z_.next_out = reinterpret_cast<Bytef*>(out_.data());
        z_.avail_out = static_cast<uInt>(out_.size());
        const int rc = inflate(&z_, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
            throw Error("layer '" + path_ + "' is not valid gzip: " + (z_.msg ? z_.msg : "inflate failed"));
        in_pos_ = in_len_ - z_.avail_in;
        between_frames_ = rc == Z_STREAM_END;
        if (rc == Z_STREAM_END) inflateReset(&z_);
        return {out_.data(), out_.size() - z_.avail_out};
    }

    std::span<const char> zstd_some() {
        ZSTD_inBuffer in{in_.data() + in_pos_, in_len_ - in_pos_, 0};
        ZSTD_outBuffer out{out_.data(), out_.size(), 0};
        const std::size_t rc = ZSTD_decompressStream(zstd_.get(), &out, &in);
        if (ZSTD_isError(rc)) throw Error("layer '" + path_ + "' is not valid zstd: " + ZSTD_getErrorName(rc));
        in_pos_ += in.pos;
        between_frames_ = rc == 0;
        return {out_.data(), out.pos};
    }

    std::string path_;
    Fd fd_;
    Codec codec_ = Codec::plain;
    z_stream z_{};
    std::unique_ptr<ZSTD_DStream, ZstdFree> zstd_;
    std::vector<char> in_, out_;
    std::size_t in_pos_ = 0, in_len_ = 0;
    bool between_frames_ = false;
    bool done_ = false;
    Sha256 blob_hash_, tar_hash_;
};

struct ReadContext {
    LayerDecoder* decoder;
    std::exception_ptr error;
};

la_ssize_t read_callback(archive* a, void* opaque, const void** buffer) {
    auto* ctx = static_cast<ReadContext*>(opaque);
    try {
        const auto chunk = ctx->decoder->next();
        *buffer = chunk.data();
        return static_cast<la_ssize_t>(chunk.size());
    } catch (...) {
        ctx->error = std::current_exception();
        archive_set_error(a, EIO, "reading layer failed");
        return -1;
    }
}

// An entry name made relative and plain: "./a//b" -> "a/b", "./" -> "" (hostile names refused).
std::string clean_entry_path(std::string_view raw) {
    std::string out;
    for (const auto& part : relative_components(raw, "layer")) {
        if (!out.empty()) out += '/';
        out += part;
    }
    return out;
}

std::pair<std::string, std::string> split_parent(const std::string& rel) {
    const auto slash = rel.rfind('/');
    if (slash == std::string::npos) return {"", rel};
    return {rel.substr(0, slash), rel.substr(slash + 1)};
}

void keep_portable_xattrs(archive_entry* e) {
    std::vector<std::pair<std::string, std::string>> kept;
    archive_entry_xattr_reset(e);
    const char* name = nullptr;
    const void* value = nullptr;
    std::size_t size = 0;
    while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
        if (detail::is_portable_xattr(name)) kept.emplace_back(name, std::string(static_cast<const char*>(value), size));
    }
    archive_entry_xattr_clear(e);
    for (const auto& [n, v] : kept) archive_entry_xattr_add_entry(e, n.c_str(), v.data(), v.size());
}

class Unpacker {
public:
    Unpacker(const fs::path& target, WhiteoutMode mode) : mode_(mode) {
        // libarchive checks every component for symlinks, including the target's own.
        target_ = fs::canonical(target);
        root_fd_ = Fd(::open(target_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!root_fd_) throw_errno("open", target_.string());
        disk_.reset(archive_write_disk_new());
        if (!disk_) throw Error("archive_write_disk_new failed");
        // Absolute names are refused by clean_entry_path before libarchive sees them; the
        // names it sees are target_-prefixed, so ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS
        // cannot be set (the alternative, chdir, would change the whole process's cwd).
        int flags = ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_PERM |
                    ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_XATTR;
        // Owners are restored by root only; without root every chown would fail (as with tar).
        if (::geteuid() == 0) flags |= ARCHIVE_EXTRACT_OWNER;
        if (archive_write_disk_set_options(disk_.get(), flags) != ARCHIVE_OK)
            throw Error("archive_write_disk_set_options: " + detail::archive_message(disk_.get()));
    }

    void run(archive* in) {
        for (;;) {
            archive_entry* e = nullptr;
            const int rc = archive_read_next_header(in, &e);
            if (rc == ARCHIVE_EOF) break;
            if (rc != ARCHIVE_OK) throw Error("reading tar: " + detail::archive_message(in));
            const std::string raw = archive_entry_pathname(e) ? archive_entry_pathname(e) : "";
            with_context("tar entry '" + raw + "'", [&] { unpack_entry(in, e, clean_entry_path(raw)); });
        }
        // Directory times and modes are fixed up here, after their contents were written.
        if (archive_write_close(disk_.get()) != ARCHIVE_OK)
            throw Error("finishing unpack: " + detail::archive_message(disk_.get()));
    }

private:
    void unpack_entry(archive* in, archive_entry* e, const std::string& rel) {
        if (rel.empty()) return;  // the layer root ("./"): the target dir already exists
        const auto [parent, name] = split_parent(rel);
        if (name == detail::opaque_marker) return opaque(parent);
        if (name.starts_with(detail::whiteout_prefix)) return whiteout(parent, name.substr(detail::whiteout_prefix.size()));
        if (const char* link = archive_entry_hardlink(e)) {
            const std::string link_rel = with_context("hardlink target '" + std::string(link) + "'", [&] {
                std::string r = clean_entry_path(link);
                if (r.empty()) throw Error("hardlink to the layer root");
                return r;
            });
            archive_entry_set_hardlink(e, (target_ / link_rel).c_str());
        }
        keep_portable_xattrs(e);
        archive_entry_set_pathname(e, (target_ / rel).c_str());
        if (archive_write_header(disk_.get(), e) != ARCHIVE_OK) throw Error(detail::archive_message(disk_.get()));
        copy_data(in);
        if (archive_write_finish_entry(disk_.get()) != ARCHIVE_OK) throw Error(detail::archive_message(disk_.get()));
        if (mode_ == WhiteoutMode::apply) mark_written(rel);
    }

    void copy_data(archive* in) {
        const void* buf = nullptr;
        std::size_t size = 0;
        la_int64_t offset = 0;
        for (;;) {
            const int rc = archive_read_data_block(in, &buf, &size, &offset);
            if (rc == ARCHIVE_EOF) return;
            if (rc != ARCHIVE_OK) throw Error("reading data: " + detail::archive_message(in));
            if (archive_write_data_block(disk_.get(), buf, size, offset) != ARCHIVE_OK)
                throw Error(detail::archive_message(disk_.get()));
        }
    }

    void whiteout(const std::string& parent, const std::string& name) {
        if (name.empty() || name == "." || name == "..") throw Error("whiteout names no file");
        const std::string rel = parent.empty() ? name : parent + "/" + name;
        const Fd dir = detail::open_dir_beneath(root_fd_.get(), parent, mode_ == WhiteoutMode::overlay);
        if (!dir) return;  // apply: nothing there to delete
        struct stat st {};
        if (::fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) remove_tree(target_ / rel);
        if (mode_ == WhiteoutMode::apply) return;
        if (::mknodat(dir.get(), name.c_str(), S_IFCHR | 0, makedev(0, 0)) != 0) throw_errno("mknod", rel);
    }

    void opaque(const std::string& dir_rel) {
        if (dir_rel.empty() && mode_ == WhiteoutMode::overlay) throw Error("opaque marker for the layer root");
        const Fd dir = detail::open_dir_beneath(root_fd_.get(), dir_rel, true);
        if (mode_ == WhiteoutMode::overlay) {
            if (::fsetxattr(dir.get(), detail::overlay_opaque_xattr, "y", 1, 0) != 0)
                throw_errno("setxattr trusted.overlay.opaque", dir_rel);
            return;
        }
        // Flattening: everything older in this directory goes; what this layer wrote stays.
        for (const auto& child : fs::directory_iterator(target_ / dir_rel)) {
            const std::string child_rel = (dir_rel.empty() ? "" : dir_rel + "/") + child.path().filename().string();
            if (!written_.contains(child_rel)) remove_tree(child.path());
        }
    }

    void mark_written(const std::string& rel) {
        for (std::string p = rel; !p.empty(); p = split_parent(p).first) written_.insert(p);
    }

    fs::path target_;
    Fd root_fd_;
    WhiteoutMode mode_;
    detail::ArchiveWriter disk_;
    std::set<std::string> written_;  // apply mode: paths this layer wrote (and their parents)
};

bool is_unpackable_layer_type(std::string_view type) {
    return type.empty() || type == media::layer_tar || type == media::layer_gzip || type == media::layer_zstd ||
           type == "application/vnd.docker.image.rootfs.diff.tar.gzip";
}

} // namespace

namespace detail {

// Unpacks and returns {diff id, blob digest}.
std::pair<std::string, std::string> unpack_layer_hashed(const fs::path& blob, std::string_view media_type,
                                                        const fs::path& target, WhiteoutMode mode) {
    return with_context("unpacking layer '" + blob.string() + "'", [&] {
        if (!is_unpackable_layer_type(media_type)) throw Error("unsupported layer media type '" + std::string(media_type) + "'");
        LayerDecoder decoder(blob);
        ReadContext ctx{&decoder, nullptr};
        ArchiveReader in(archive_read_new());
        if (!in) throw Error("archive_read_new failed");
        archive_read_support_format_tar(in.get());
        if (archive_read_open(in.get(), &ctx, nullptr, read_callback, nullptr) != ARCHIVE_OK)
            throw Error("opening tar: " + archive_message(in.get()));
        try {
            Unpacker(target, mode).run(in.get());
        } catch (...) {
            if (ctx.error) std::rethrow_exception(ctx.error);  // the decoder's error, not libarchive's echo
            throw;
        }
        decoder.drain();
        return std::pair{decoder.diff_id(), decoder.blob_digest()};
    });
}

} // namespace detail

std::string unpack_layer(const fs::path& blob, std::string_view media_type, const fs::path& target, WhiteoutMode mode) {
    return detail::unpack_layer_hashed(blob, media_type, target, mode).first;
}

} // namespace strata::store
