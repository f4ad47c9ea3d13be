// The (diff id, codec, level) -> blob records, and re-encoding a layer blob in one stream:
// libarchive's raw format undoes any compression, the tar is hashed to check its diff id
// and compressed again into a new blob.
#include "store/layer_blobs.hpp"

#include "store/internal.hpp"
#include "util/sha256.hpp"

#include <vector>

namespace strata::store {

namespace {

// "<hex>-gzip-6", "<hex>-zstd-3", "<hex>-uncompressed": one file name per (diff id, codec, level).
std::string record_key(std::string_view diff_id, const LayerCompression& compression) {
    if (!is_sha256_digest(diff_id)) throw Error("invalid diff id '" + std::string(diff_id) + "'");
    std::string codec = compression.describe();
    if (const auto at = codec.find(";level="); at != std::string::npos) codec.replace(at, 7, "-");
    return std::string(diff_id.substr(7)) + "-" + codec;
}

std::optional<std::string> compression_of(const Descriptor& blob) {
    const auto it = blob.annotations.find(compression_annotation);
    if (it == blob.annotations.end()) return std::nullopt;
    return it->second;
}

bool blob_intact(const Store& store, const Descriptor& blob) {
    std::error_code ec;
    const auto size = fs::file_size(store.blob_path(blob.digest), ec);
    return !ec && static_cast<std::int64_t>(size) == blob.size;
}

// Streams `from`'s uncompressed tar into a new blob in `compression`; throws when the tar
// is not diff_id's (the blob changed under its name).
Descriptor reencode(Store& store, const Layer& from, const LayerCompression& compression) {
    const fs::path source = store.blob_path(from.descriptor.digest);
    return with_context("re-encoding layer " + from.diff_id + " as " + compression.describe(), [&] {
        detail::ArchiveReader a(archive_read_new());
        if (!a) throw Error("archive_read_new failed");
        if (archive_read_support_filter_all(a.get()) != ARCHIVE_OK || archive_read_support_format_raw(a.get()) != ARCHIVE_OK ||
            archive_read_open_filename(a.get(), source.c_str(), 128 * 1024) != ARCHIVE_OK)
            throw Error("reading '" + source.string() + "': " + detail::archive_message(a.get()));
        archive_entry* entry = nullptr;
        if (archive_read_next_header(a.get(), &entry) != ARCHIVE_OK)
            throw Error("reading '" + source.string() + "': " + detail::archive_message(a.get()));
        BlobWriter blob = store.new_blob();
        Sha256 tar;
        auto compressor = make_compressor(compression, [&blob](const void* data, std::size_t size) { blob.write(data, size); });
        std::vector<char> buffer(128 * 1024);
        la_ssize_t n;
        while ((n = archive_read_data(a.get(), buffer.data(), buffer.size())) > 0) {
            tar.update(buffer.data(), static_cast<std::size_t>(n));
            compressor->write(buffer.data(), static_cast<std::size_t>(n));
        }
        if (n < 0) throw Error("reading '" + source.string() + "': " + detail::archive_message(a.get()));
        compressor->finish();
        if (tar.digest() != from.diff_id) throw Error("blob " + from.descriptor.digest + " does not hold that layer");
        Descriptor out = blob.commit(compression.media_type());
        out.annotations[compression_annotation] = compression.describe();
        return out;
    });
}

} // namespace

std::optional<Descriptor> find_layer_blob(const Store& store, std::string_view diff_id, const LayerCompression& compression) {
    try {
        const auto record = store.get_record(layer_blobs_namespace, record_key(diff_id, compression));
        if (!record || record->value("diff_id", "") != diff_id) return std::nullopt;
        const Descriptor blob = descriptor_from_json(record->at("blob"));
        if (compression_of(blob) != compression.describe() || !blob_intact(store, blob)) return std::nullopt;
        return blob;
    } catch (const nlohmann::json::exception&) {
        return std::nullopt;  // a torn or foreign record is a miss
    } catch (const Error&) {
        return std::nullopt;
    }
}

void remember_layer_blob(Store& store, std::string_view diff_id, const LayerCompression& compression, const Descriptor& blob) {
    store.put_record(layer_blobs_namespace, record_key(diff_id, compression), {{"diff_id", diff_id}, {"blob", to_json(blob)}});
}

LayerBlob layer_blob_as(Store& store, const Layer& layer, const LayerCompression& compression) {
    if (compression_of(layer.descriptor) == compression.describe()) return {layer.descriptor, false};
    if (auto known = find_layer_blob(store, layer.diff_id, compression)) return {*known, false};
    const Descriptor made = reencode(store, layer, compression);
    remember_layer_blob(store, layer.diff_id, compression, made);
    return {made, true};
}

} // namespace strata::store
