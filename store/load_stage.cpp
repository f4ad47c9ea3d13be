// Loading, first half: every regular file of the archive is streamed, in bounded chunks,
// into a sealed blob in the store's staging, hashed as it is and as it decompresses (a
// layer's diff id); small files are also kept in memory, since the JSON documents among
// them are read afterwards. Names are hostile: absolute names, "..", links and devices
// in blobs/ and blobs whose content is not their name are refused, naming the entry.
#include "store/exchange_internal.hpp"

#include "util/error.hpp"
#include "util/sha256.hpp"

#include <archive_entry.h>

#include <exception>
#include <span>
#include <vector>

namespace strata::store::detail {

namespace {

constexpr std::size_t max_link_hops = 16;
const std::string sha256_dir = "blobs/sha256/";

// Pulls one entry's bytes out of the tar in chunks, copying each to the staged blob (and,
// for a small file, to memory) on its way to whoever reads them.
class EntrySource {
public:
    EntrySource(archive* tar, BlobWriter& writer, std::string* held)
        : tar_(tar), writer_(writer), held_(held), buffer_(io_chunk_size) {}

    // The next chunk; empty at the entry's end. Valid until the next call.
    std::span<const char> next() {
        if (done_) return {};
        const la_ssize_t n = archive_read_data(tar_, buffer_.data(), buffer_.size());
        if (n < 0) throw Error("the archive is damaged or truncated: " + archive_message(tar_));
        if (n == 0) {
            done_ = true;
            return {};
        }
        const auto size = static_cast<std::size_t>(n);
        writer_.write(buffer_.data(), size);
        if (held_) held_->append(buffer_.data(), size);
        return {buffer_.data(), size};
    }
    void drain() {
        while (!next().empty()) {
        }
    }

private:
    archive* tar_;
    BlobWriter& writer_;
    std::string* held_;
    std::vector<char> buffer_;
    bool done_ = false;
};

struct DecodeContext {
    EntrySource* source;
    std::exception_ptr error;  // the outer archive's failure, not the decoder's
};

la_ssize_t decode_read(archive* a, void* opaque, const void** buffer) {
    auto* ctx = static_cast<DecodeContext*>(opaque);
    try {
        const auto chunk = ctx->source->next();
        *buffer = chunk.data();
        return static_cast<la_ssize_t>(chunk.size());
    } catch (...) {
        ctx->error = std::current_exception();
        archive_set_error(a, EIO, "reading the archive failed");
        return -1;
    }
}

struct Decoded {
    Compression compression = Compression::none;
    std::optional<std::string> diff_id;
    std::string error;
};

Compression compression_of(archive* decoder) {
    switch (archive_filter_code(decoder, 0)) {
    case ARCHIVE_FILTER_GZIP: return Compression::gzip;
    case ARCHIVE_FILTER_ZSTD: return Compression::zstd;
    default: return Compression::none;
    }
}

// Reads the whole entry through a second libarchive reader ("raw" format: the stream
// itself) that undoes gzip or zstd, detected from the magic bytes, and hashes what comes
// out. Bytes that look compressed but do not decode are not an error here: only a layer
// must decode, and the caller says so when it needs one.
Decoded decode_and_hash(EntrySource& source) {
    ArchiveReader decoder(archive_read_new());
    if (!decoder) throw Error("archive_read_new failed");
    archive_read_support_filter_gzip(decoder.get());
    archive_read_support_filter_zstd(decoder.get());
    archive_read_support_format_raw(decoder.get());
    DecodeContext ctx{&source, nullptr};
    Decoded out;
    const auto failed = [&] {
        if (ctx.error) std::rethrow_exception(ctx.error);
        out.diff_id.reset();
        out.error = archive_message(decoder.get());
        source.drain();
        return out;
    };
    if (archive_read_open(decoder.get(), &ctx, nullptr, decode_read, nullptr) != ARCHIVE_OK) return failed();
    out.compression = compression_of(decoder.get());
    Sha256 sha;
    archive_entry* entry = nullptr;
    const int rc = archive_read_next_header(decoder.get(), &entry);
    if (rc != ARCHIVE_OK && rc != ARCHIVE_EOF) return failed();
    std::vector<char> buffer(rc == ARCHIVE_OK ? io_chunk_size : 0);
    for (la_ssize_t n = 0; rc == ARCHIVE_OK;) {
        n = archive_read_data(decoder.get(), buffer.data(), buffer.size());
        if (n < 0) return failed();
        if (n == 0) break;
        sha.update(buffer.data(), static_cast<std::size_t>(n));
    }
    if (ctx.error) std::rethrow_exception(ctx.error);
    source.drain();  // what the decoder did not need (the end of a compressed stream)
    out.diff_id = sha.digest();
    return out;
}

// Where a symlink at `name` pointing to `target` leads, as a name from the archive's root.
std::string link_target_name(const std::string& name, std::string_view target) {
    if (target.starts_with('/')) throw Error("symlink to the absolute path '" + std::string(target) + "'");
    std::vector<std::string> parts;
    for (const auto& part : relative_components(name, "archive")) parts.push_back(part);
    parts.pop_back();  // the link itself
    std::size_t start = 0;
    while (start <= target.size()) {
        std::size_t slash = target.find('/', start);
        if (slash == std::string_view::npos) slash = target.size();
        const std::string_view part = target.substr(start, slash - start);
        start = slash + 1;
        if (part.empty() || part == ".") continue;
        if (part == "..") {
            if (parts.empty()) throw Error("symlink target '" + std::string(target) + "' leads out of the archive");
            parts.pop_back();
            continue;
        }
        parts.emplace_back(part);
    }
    std::string out;
    for (const auto& part : parts) out += (out.empty() ? "" : "/") + part;
    if (out.empty()) throw Error("symlink to the archive's root");
    return out;
}

// The archive's own bytes, read from fd in chunks; counted, so that an empty input is
// reported as such rather than as an unknown format.
struct InputSource {
    int fd;
    std::string shown;
    std::vector<char> buffer;
    std::uint64_t total = 0;
    std::exception_ptr error;
};

la_ssize_t input_read(archive* a, void* opaque, const void** buffer) {
    auto* input = static_cast<InputSource*>(opaque);
    try {
        const std::size_t n = read_some(input->fd, input->buffer.data(), input->buffer.size(), input->shown.c_str());
        input->total += n;
        *buffer = input->buffer.data();
        return static_cast<la_ssize_t>(n);
    } catch (...) {
        input->error = std::current_exception();
        archive_set_error(a, EIO, "reading the input failed");
        return -1;
    }
}

std::string size_text(std::size_t bytes) { return std::to_string(bytes) + " bytes"; }

} // namespace

std::string normalised_entry_name(std::string_view raw) {
    std::string out;
    for (const auto& part : relative_components(raw, "archive")) out += (out.empty() ? "" : "/") + part;
    return out;
}

void StagedArchive::read(int fd, std::string_view shown) {
    with_context("reading '" + std::string(shown) + "'", [&] {
        ArchiveReader in(archive_read_new());
        if (!in) throw Error("archive_read_new failed");
        // Compression is detected from the magic bytes; libarchive decodes gzip and zstd
        // itself, and xz and bzip2 as docker load does.
        archive_read_support_filter_gzip(in.get());
        archive_read_support_filter_zstd(in.get());
        archive_read_support_filter_xz(in.get());
        archive_read_support_filter_bzip2(in.get());
        archive_read_support_format_tar(in.get());
        InputSource input{fd, std::string(shown), std::vector<char>(io_chunk_size), 0, nullptr};
        if (archive_read_open(in.get(), &input, nullptr, input_read, nullptr) != ARCHIVE_OK) {
            if (input.error) std::rethrow_exception(input.error);
            if (input.total == 0) throw Error("the archive is empty");
            throw Error("cannot read it as a tar archive: " + archive_message(in.get()));
        }
        std::size_t entries = 0;
        std::string last;
        for (;;) {
            archive_entry* entry = nullptr;
            const int rc = archive_read_next_header(in.get(), &entry);
            if (rc == ARCHIVE_EOF) break;
            if (rc < ARCHIVE_WARN) {
                if (input.error) std::rethrow_exception(input.error);
                if (entries == 0) throw Error("not a tar archive: " + archive_message(in.get()));
                throw Error("the archive is damaged or truncated after entry '" + last + "': " + archive_message(in.get()));
            }
            if (++entries > limits_.max_entries)
                throw Error("the archive holds more than " + std::to_string(limits_.max_entries) + " entries");
            read_entry(in.get(), entry);
            last = archive_entry_pathname(entry) ? archive_entry_pathname(entry) : "";
        }
        if (entries == 0) throw Error("the archive is empty");
    });
}

void StagedArchive::read_entry(archive* in, archive_entry* entry) {
    const char* raw_name = archive_entry_pathname(entry);
    if (!raw_name) raw_name = archive_entry_pathname_utf8(entry);
    const std::string raw = raw_name ? raw_name : "";
    if (raw.size() > limits_.max_name_bytes)
        throw Error("an archive entry's name has " + size_text(raw.size()) + ", more than " +
                    std::to_string(limits_.max_name_bytes) + ": '" + raw.substr(0, 64) + "...'");
    with_context("archive entry '" + raw + "'", [&] {
        const std::string name = normalised_entry_name(raw);
        if (name.empty()) return;  // "./"
        const bool in_blobs = name == "blobs" || name.starts_with("blobs/");
        if (const char* target = archive_entry_hardlink(entry)) {
            if (in_blobs) throw Error("a hard link is not allowed in blobs/");
            const std::string target_name = normalised_entry_name(target);
            if (target_name.empty()) throw Error("hard link to the archive's root");
            add_name(name);
            links_[name] = target_name;
            return;
        }
        switch (archive_entry_filetype(entry)) {
        case AE_IFDIR: return;
        case AE_IFLNK: {
            if (in_blobs) throw Error("a symlink is not allowed in blobs/");
            const char* target = archive_entry_symlink(entry);
            const std::string target_name = link_target_name(name, target ? target : "");
            add_name(name);
            links_[name] = target_name;
            return;
        }
        case AE_IFREG:
            add_name(name);
            stage(in, entry, name, in_blobs);
            return;
        default: throw Error("a device, fifo or socket is not allowed in an image archive");
        }
    });
}

void StagedArchive::add_name(const std::string& name) {
    if (has(name)) throw Error("the archive holds '" + name + "' twice");
}

void StagedArchive::stage(archive* in, archive_entry* entry, const std::string& name, bool in_blobs) {
    std::string expected;
    if (in_blobs) {
        expected = "sha256:" + (name.starts_with(sha256_dir) ? name.substr(sha256_dir.size()) : std::string());
        if (!is_sha256_digest(expected)) throw Error("a file in blobs/ must be named blobs/sha256/<64 lower-case hex digits>");
    }
    const la_int64_t size = archive_entry_size_is_set(entry) ? archive_entry_size(entry) : -1;
    const bool hold = size >= 0 && static_cast<std::size_t>(size) <= limits_.max_document_bytes &&
                      held_bytes_ + static_cast<std::size_t>(size) <= limits_.max_documents_total;
    StagedFile file{store_.new_blob(), name, {}, Compression::none, std::nullopt, {}, std::nullopt};
    std::string held;
    EntrySource source(in, file.writer, hold ? &held : nullptr);
    Decoded decoded = decode_and_hash(source);
    file.blob = file.writer.seal("", expected);  // a blob whose bytes are not its name throws here
    file.compression = decoded.compression;
    file.diff_id = std::move(decoded.diff_id);
    file.decode_error = std::move(decoded.error);
    if (hold) {
        held_bytes_ += held.size();
        file.content = std::move(held);
    }
    files_.emplace(name, std::move(file));
}

StagedFile* StagedArchive::find(const std::string& name) {
    std::string current = name;
    for (std::size_t hops = 0; hops <= max_link_hops; ++hops) {
        if (const auto file = files_.find(current); file != files_.end()) return &file->second;
        const auto link = links_.find(current);
        if (link == links_.end()) return nullptr;
        current = link->second;
    }
    throw Error("'" + name + "' leads through more than " + std::to_string(max_link_hops) + " links");
}

StagedFile* StagedArchive::blob(const std::string& digest) {
    if (!is_sha256_digest(digest)) return nullptr;
    return find(sha256_dir + digest.substr(7));
}

const std::string& StagedArchive::document(const StagedFile& file) const {
    if (file.content) return *file.content;
    if (static_cast<std::size_t>(file.blob.size) > limits_.max_document_bytes)
        throw Error("'" + file.entry + "' has " + size_text(static_cast<std::size_t>(file.blob.size)) +
                    ", more than a JSON document may have (" + size_text(limits_.max_document_bytes) + ")");
    throw Error("'" + file.entry + "' was not kept: the archive's small files hold more than " +
                size_text(limits_.max_documents_total));
}

} // namespace strata::store::detail
