// The (diff id, codec, level) -> blob records: a layer wanted in another compression is
// compressed once, byte-identical to a layer written in that codec directly, and reused.
#include "helpers.hpp"

#include "store/layer_blobs.hpp"

#include <catch2/catch.hpp>

namespace layer_blobs_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata;
using namespace strata::store;
using namespace strata::store::test;

namespace {

Layer tree_layer(Store& store, const fs::path& dir, LayerCompression compression) {
    write_text(dir / "a", "alpha\n");
    write_text(dir / "sub" / "b", std::string(100000, 'b'));
    LayerOptions options{1700000000};
    options.compression = compression;
    return store.write_layer(dir, options);
}

} // namespace

TEST_CASE("a layer re-encoded in another codec is compressed once, then its blob is reused", "[layer][layer-blobs]") {
    TempDir root(test_tmp()), tree(test_tmp());
    Store store(root.path());
    const Layer gzip = tree_layer(store, tree.path(), {});
    const LayerCompression zstd{LayerCompression::Codec::zstd, std::nullopt};

    // Already in the codec asked for: the layer's own blob.
    const LayerBlob same = layer_blob_as(store, gzip, {});
    CHECK_FALSE(same.compressed);
    CHECK(same.descriptor.digest == gzip.descriptor.digest);

    const LayerBlob first = layer_blob_as(store, gzip, zstd);
    CHECK(first.compressed);
    CHECK(first.descriptor.media_type == media::layer_zstd);
    CHECK(first.descriptor.annotations.at(compression_annotation) == "zstd;level=3");
    TempDir out(test_tmp());
    CHECK(unpack_layer(store.blob_path(first.descriptor.digest), first.descriptor.media_type, out.path(),
                       WhiteoutMode::apply) == gzip.diff_id);

    // The gzip blob is gone: only the remembered zstd blob can answer, without compressing.
    fs::remove(store.blob_path(gzip.descriptor.digest));
    const LayerBlob second = layer_blob_as(store, gzip, zstd);
    CHECK_FALSE(second.compressed);
    CHECK(second.descriptor.digest == first.descriptor.digest);
    CHECK(find_layer_blob(store, gzip.diff_id, zstd)->digest == first.descriptor.digest);
    // Another level is another blob; none is known yet.
    CHECK_FALSE(find_layer_blob(store, gzip.diff_id, LayerCompression{LayerCompression::Codec::zstd, 19}));

    // The same tree written as zstd directly gives the very same blob; writing it remembers
    // it, so the gzip blob (written anew) is found by its record too.
    TempDir again(test_tmp());
    CHECK(tree_layer(store, again.path(), zstd).descriptor.digest == first.descriptor.digest);
    const Layer gzip_again = tree_layer(store, again.path(), {});
    CHECK(find_layer_blob(store, gzip.diff_id, {})->digest == gzip_again.descriptor.digest);
}

TEST_CASE("a remembered blob that is gone or damaged is not used", "[layer][layer-blobs]") {
    TempDir root(test_tmp()), tree(test_tmp());
    Store store(root.path());
    const Layer gzip = tree_layer(store, tree.path(), {});
    const LayerCompression none{LayerCompression::Codec::none, std::nullopt};
    const LayerBlob plain = layer_blob_as(store, gzip, none);
    REQUIRE(plain.compressed);
    CHECK(plain.descriptor.digest == gzip.diff_id);  // an uncompressed layer is its tar
    // Truncated: not the recorded size, so made again.
    fs::resize_file(store.blob_path(plain.descriptor.digest), 10);
    CHECK_FALSE(find_layer_blob(store, gzip.diff_id, none));
    fs::remove(store.blob_path(plain.descriptor.digest));
    const LayerBlob remade = layer_blob_as(store, gzip, none);
    CHECK(remade.compressed);
    CHECK(remade.descriptor.digest == gzip.diff_id);
    // A layer whose blob does not hold its diff id is refused, and nothing is stored.
    Layer wrong = gzip;
    wrong.diff_id = "sha256:" + std::string(64, '0');
    CHECK_THROWS_WITH(layer_blob_as(store, wrong, LayerCompression{LayerCompression::Codec::zstd, std::nullopt}),
                      Catch::Contains("does not hold that layer"));
}

} // namespace layer_blobs_test
