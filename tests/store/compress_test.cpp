// Layer compression: the codecs' names, levels and media types, byte-identical output
// whatever the thread count and write sizes, and layers written and read back in each codec.
#include "helpers.hpp"
#include "store/compress.hpp"
#include "util/sha256.hpp"

#include <catch2/catch.hpp>
#include <zstd.h>

#include <random>
#include <set>

namespace compress_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata;
using namespace strata::store;
using namespace strata::store::test;

namespace {

// Text-like data with incompressible runs, large enough for several zstd jobs and many gzip blocks.
std::string sample_input(std::size_t size) {
    std::mt19937 rng(42);
    std::vector<std::string> words;
    for (int i = 0; i < 4000; ++i) {
        std::string w;
        for (int j = 0, n = 3 + static_cast<int>(rng() % 8); j < n; ++j) w += static_cast<char>('a' + rng() % 26);
        words.push_back(w);
    }
    std::string out;
    out.reserve(size);
    while (out.size() < size) {
        if (rng() % 512 == 0)
            for (int k = 0; k < 300; ++k) out += static_cast<char>(rng());
        else
            out += words[rng() % words.size()] + ' ';
    }
    out.resize(size);
    return out;
}

std::string compress(const LayerCompression& c, const std::string& input, unsigned threads, std::size_t piece) {
    std::string out;
    auto compressor = make_compressor(
        c, [&out](const void* data, std::size_t size) { out.append(static_cast<const char*>(data), size); }, threads);
    for (std::size_t at = 0; at < input.size(); at += piece) compressor->write(input.data() + at, std::min(piece, input.size() - at));
    compressor->finish();
    return out;
}

std::string unzstd(const std::string& data) {
    std::unique_ptr<ZSTD_DStream, decltype(&ZSTD_freeDStream)> d(ZSTD_createDStream(), ZSTD_freeDStream);
    REQUIRE(d);
    std::string out;
    std::vector<char> buf(1 << 16);
    ZSTD_inBuffer in{data.data(), data.size(), 0};
    std::size_t rc = 1;
    while (in.pos < in.size) {
        ZSTD_outBuffer o{buf.data(), buf.size(), 0};
        rc = ZSTD_decompressStream(d.get(), &o, &in);
        REQUIRE_FALSE(ZSTD_isError(rc));
        out.append(buf.data(), o.pos);
    }
    CHECK(rc == 0);  // the frame ended exactly at the end of the data
    return out;
}

} // namespace

TEST_CASE("compression names, levels, media types and descriptions", "[compress]") {
    CHECK(LayerCompression{}.describe() == "gzip;level=6");
    CHECK(std::string(LayerCompression{}.media_type()) == media::layer_gzip);
    CHECK(parse_layer_compression("zstd").describe() == "zstd;level=3");
    CHECK(std::string(parse_layer_compression("zstd").media_type()) == media::layer_zstd);
    CHECK(parse_layer_compression("zstd", 19).describe() == "zstd;level=19");
    CHECK(parse_layer_compression("gzip", 9).describe() == "gzip;level=9");
    CHECK(parse_layer_compression("uncompressed").describe() == "uncompressed");
    CHECK(std::string(parse_layer_compression("uncompressed").media_type()) == media::layer_tar);
    // An explicit default level is the default: same blob, same description, same cache key.
    CHECK(parse_layer_compression("gzip", 6) == LayerCompression{});
    CHECK_FALSE(parse_layer_compression("zstd") == LayerCompression{});

    CHECK_THROWS_WITH(parse_layer_compression("lz4"), Catch::Contains("expected gzip, zstd or uncompressed"));
    CHECK_THROWS_WITH(parse_layer_compression("gzip", 10), Catch::Contains("0-9"));
    CHECK_THROWS_WITH(parse_layer_compression("zstd", 0), Catch::Contains("1-19"));
    CHECK_THROWS_WITH(parse_layer_compression("zstd", 22), Catch::Contains("1-19"));
    CHECK_THROWS_WITH(parse_layer_compression("uncompressed", 3), Catch::Contains("no compression level"));
}

TEST_CASE("zstd output is byte-identical for any worker count and write sizes, and decodes", "[compress]") {
    const std::string input = sample_input(12 << 20);  // several multi-threaded jobs at level 3
    const LayerCompression zstd = parse_layer_compression("zstd");
    const std::string one = compress(zstd, input, 1, 10240);
    CHECK(compress(zstd, input, 2, 10240) == one);
    CHECK(compress(zstd, input, 4, 1 << 20) == one);
    CHECK(compress(zstd, input, 0, 7777) == one);
    CHECK(one.size() < input.size() / 2);
    CHECK(unzstd(one) == input);
    // The level is really applied: another level gives other bytes for the same tar.
    const std::string other = compress(parse_layer_compression("zstd", 9), input, 2, 1 << 16);
    CHECK(other != one);
    CHECK(unzstd(other) == input);
}

TEST_CASE("gzip output is byte-identical for any thread count and decodes; uncompressed is the input", "[compress]") {
    const std::string input = sample_input(3 << 20);
    const std::string one = compress(LayerCompression{}, input, 1, 10240);
    CHECK(compress(LayerCompression{}, input, 2, 1 << 20) == one);
    CHECK(compress(LayerCompression{}, input, 0, 4097) == one);
    CHECK(gunzip(one) == input);
    CHECK(compress(parse_layer_compression("uncompressed"), input, 2, 5000) == input);
    CHECK(compress(parse_layer_compression("gzip", 1), input, 2, 1 << 16) != one);
}

TEST_CASE("a layer is written in the codec asked for, annotated, and reads back", "[compress][layer]") {
    TempDir root(test_tmp());
    Store store(root.path());
    TempDir tree(test_tmp());
    write_text(tree.path() / "etc" / "motd", "hello\n");
    write_text(tree.path() / "data.txt", sample_input(2 << 20));

    std::string diff_id;
    std::set<std::string> digests;
    for (const char* name : {"gzip", "zstd", "uncompressed"}) {
        INFO("codec " << name);
        LayerOptions options{1600000000};
        options.compression = parse_layer_compression(name);
        const Layer layer = store.write_layer(tree.path(), options);
        CHECK(layer.descriptor.media_type == options.compression.media_type());
        CHECK(layer.descriptor.annotations.at(compression_annotation) == options.compression.describe());
        // The tar (and so the diff id and chain) is the same whatever the codec.
        if (diff_id.empty()) diff_id = layer.diff_id;
        CHECK(layer.diff_id == diff_id);
        digests.insert(layer.descriptor.digest);
        if (options.compression.codec == LayerCompression::Codec::none) CHECK(layer.descriptor.digest == layer.diff_id);
        if (options.compression.codec == LayerCompression::Codec::zstd)
            CHECK(sha256_digest(unzstd(read_file(store.blob_path(layer.descriptor.digest)))) == layer.diff_id);

        TempDir out(test_tmp());
        CHECK(unpack_layer(store.blob_path(layer.descriptor.digest), layer.descriptor.media_type, out.path()) == diff_id);
        CHECK(tree_listing(out.path()) == tree_listing(tree.path()));
        // Written again: the same blob (deterministic, as the cache and reproducible builds need).
        CHECK(store.write_layer(tree.path(), options).descriptor.digest == layer.descriptor.digest);
    }
    CHECK(digests.size() == 3);
}

} // namespace compress_test
