// Layer blobs: the deterministic tar of an overlay-format directory (tree_tar.cpp),
// hashed (diff id), compressed (compress.hpp) and written as a blob, all in one pass.
#include "store/compress.hpp"
#include "store/internal.hpp"
#include "store/layer_blobs.hpp"
#include "store/store.hpp"
#include "store/tree_tar.hpp"

#include "util/async_sink.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"

#include <archive_entry.h>

#include <algorithm>
#include <cerrno>
#include <exception>
#include <fcntl.h>
#include <map>
#include <optional>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

namespace strata::store {

namespace {

// The tar byte sink: hashes the tar (diff id), compresses it as the options say, and
// streams the result into the blob (which hashes it for the blob digest). The two hashes
// and the blob's writes each run on a thread of their own (AsyncSink): in one thread they
// were most of a big layer's time, with the compressor's threads waiting for them.
class LayerBlobSink {
public:
    LayerBlobSink(BlobWriter& blob, const LayerOptions& options)
        : diff_hasher_([this](const unsigned char* data, std::size_t size) { diff_.update(data, size); }),
          blob_writer_([&blob](const unsigned char* data, std::size_t size) { blob.write(data, size); }),
          compressor_(make_compressor(options.compression,
                                      [this](const void* data, std::size_t size) { blob_writer_.write(data, size); })) {}

    void write(const void* data, std::size_t size) {
        diff_hasher_.write(data, size);
        compressor_->write(data, size);
    }
    void finish() {
        compressor_->finish();
        blob_writer_.finish();
        diff_hasher_.finish();
    }
    std::string diff_id() { return diff_.digest(); }

private:
    Sha256 diff_;
    AsyncSink diff_hasher_;
    AsyncSink blob_writer_;
    std::unique_ptr<Compressor> compressor_;
};

} // namespace

namespace {

// Tars and compresses `dir` into `blob` (sealed, not yet published); returns its diff id.
std::string write_layer_blob(BlobWriter& blob, const fs::path& dir, const LayerOptions& options, Descriptor& descriptor) {
    return with_context("writing layer from '" + dir.string() + "'", [&] {
        LayerBlobSink sink(blob, options);
        write_tree_tar(dir, [&sink](const void* data, std::size_t size) { sink.write(data, size); }, options);
        sink.finish();
        descriptor = blob.seal(options.compression.media_type());
        descriptor.annotations[compression_annotation] = options.compression.describe();
        return sink.diff_id();
    });
}

} // namespace

Layer Store::write_layer(const fs::path& dir, const LayerOptions& options) {
    BlobWriter blob = new_blob();
    Layer layer;
    layer.diff_id = write_layer_blob(blob, dir, options, layer.descriptor);
    sync();
    blob.publish();
    fsync_path(layout_dir() / "blobs" / "sha256");
    remember_layer_blob(*this, layer.diff_id, options.compression, layer.descriptor);
    return layer;
}

Store::CommittedLayer Store::commit_layer(TempDir&& staging, std::string_view parent_chain_id, const LayerOptions& options) {
    TempDir owned = std::move(staging);
    BlobWriter blob = new_blob();
    CommittedLayer result;
    result.layer.diff_id = write_layer_blob(blob, owned.path(), options, result.layer.descriptor);
    result.chain_id = parent_chain_id.empty() ? result.layer.diff_id : next_chain_id(parent_chain_id, result.layer.diff_id);
    sync();  // the blob's and the snapshot's data, in one flush
    blob.publish();
    rename_snapshot(std::move(owned), result.chain_id);
    remember_layer_blob(*this, result.layer.diff_id, options.compression, result.layer.descriptor);
    return result;
}

} // namespace strata::store
