// Content-addressed blobs: written to <root>/tmp while hashed, then fsynced and renamed
// to oci/blobs/sha256/<hex>; verified on read (as umoci's cas/dir).
#include "store/store.hpp"

#include "util/error.hpp"
#include "util/sha256.hpp"

#include <cerrno>
#include <cstdlib>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace strata::store {

struct BlobWriter::Impl {
    fs::path blobs_dir;
    std::string temp_path;
    fs::path final_path;  // set by seal()
    Fd fd;
    Sha256 sha;
    std::int64_t size = 0;
    EarlyWriteback writeback;

    ~Impl() {
        if (!temp_path.empty()) ::unlink(temp_path.c_str());
    }
};

BlobWriter::BlobWriter(const fs::path& tmp_dir, fs::path blobs_dir) : impl_(std::make_unique<Impl>()) {
    impl_->blobs_dir = std::move(blobs_dir);
    std::string tmpl = (tmp_dir / "blob-XXXXXX").string();
    impl_->fd = Fd(::mkostemp(tmpl.data(), O_CLOEXEC));
    if (!impl_->fd) throw_errno("mkstemp", tmpl);
    impl_->temp_path = std::move(tmpl);
}

BlobWriter::BlobWriter(BlobWriter&&) noexcept = default;
BlobWriter& BlobWriter::operator=(BlobWriter&&) noexcept = default;
BlobWriter::~BlobWriter() = default;

void BlobWriter::write(const void* data, std::size_t size) {
    if (!impl_ || !impl_->fd) throw Error("blob writer used after commit");
    impl_->sha.update(data, size);
    write_all(impl_->fd.get(), data, size, impl_->temp_path.c_str());
    impl_->writeback.wrote(impl_->fd.get(), size);
    impl_->size += static_cast<std::int64_t>(size);
}

Descriptor BlobWriter::commit(std::string media_type, std::string_view expected_digest) {
    const Descriptor d = seal(std::move(media_type), expected_digest);
    Fd fd(::open(impl_->temp_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd || ::fsync(fd.get()) != 0) throw_errno("fsync", impl_->temp_path);
    publish();
    fsync_path(impl_->blobs_dir);
    return d;
}

Descriptor BlobWriter::seal(std::string media_type, std::string_view expected_digest) {
    if (!impl_ || !impl_->fd) throw Error("blob writer committed twice");
    Impl& w = *impl_;
    Descriptor d{std::move(media_type), w.sha.digest(), w.size, {}};
    if (!expected_digest.empty() && expected_digest != d.digest)
        throw Error("blob digest mismatch: expected " + std::string(expected_digest) + ", got " + d.digest);
    // Readable by other tools (skopeo, umoci run as other users), never writable.
    if (::fchmod(w.fd.get(), 0644) != 0) throw_errno("fchmod", w.temp_path);
    w.fd.reset();
    w.final_path = w.blobs_dir / d.digest.substr(7);
    return d;
}

void BlobWriter::publish() {
    Impl& w = *impl_;
    if (w.final_path.empty() || w.temp_path.empty()) throw Error("blob writer published before it was sealed, or twice");
    // A blob that exists already has the same content (its name is its digest).
    if (::rename(w.temp_path.c_str(), w.final_path.c_str()) != 0) throw_errno("rename", w.final_path.string());
    w.temp_path.clear();
}

fs::path Store::blob_path(std::string_view digest) const {
    if (!is_sha256_digest(digest)) throw Error("malformed digest '" + std::string(digest) + "'");
    return layout_dir() / "blobs" / "sha256" / std::string(digest.substr(7));
}

bool Store::has_blob(std::string_view digest) const {
    struct stat st {};
    return ::stat(blob_path(digest).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

BlobWriter Store::new_blob() { return BlobWriter(tmp_dir(), layout_dir() / "blobs" / "sha256"); }

Descriptor Store::put_blob(std::string_view data, std::string media_type) {
    // A blob's name is its digest and names are published only once durable: an existing
    // one needs no second write (a no-op rebuild's config and manifest).
    const std::string digest = sha256_digest(data);
    if (has_blob(digest)) return Descriptor{std::move(media_type), digest, static_cast<std::int64_t>(data.size()), {}};
    BlobWriter writer = new_blob();
    writer.write(data.data(), data.size());
    return writer.commit(std::move(media_type));
}

std::string Store::read_blob(std::string_view digest) const {
    const fs::path path = blob_path(digest);
    std::string data = read_file(path);
    if (sha256_digest(data) != digest)
        throw Error("blob '" + std::string(digest) + "' is corrupt: its content does not match its digest");
    return data;
}

} // namespace strata::store
