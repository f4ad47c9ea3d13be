#include "store/parallel_gzip.hpp"
#include "util/error.hpp"

#include <catch2/catch.hpp>
#include <zlib.h>

#include <random>
#include <string>
#include <vector>

namespace parallel_gzip_test {  // this file's own names: a folder's tests compile as unity batches

using strata::store::ParallelGzip;

namespace {

std::string compress(const std::string& input, unsigned threads, int level = 6, std::size_t piece = 70000) {
    std::string out;
    ParallelGzip gz([&](const unsigned char* data, std::size_t size) { out.append(reinterpret_cast<const char*>(data), size); },
                    level, threads);
    for (std::size_t at = 0; at < input.size(); at += piece) gz.write(input.data() + at, std::min(piece, input.size() - at));
    gz.finish();
    return out;
}

// zlib's own gunzip: exactly one member, and the CRC and length in its trailer checked.
std::string gunzip(const std::string& gz) {
    z_stream z{};
    REQUIRE(inflateInit2(&z, 15 + 16) == Z_OK);
    std::string out;
    std::vector<unsigned char> buf(1 << 16);
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
    z.avail_in = static_cast<uInt>(gz.size());
    int rc = Z_OK;
    while (rc == Z_OK) {
        z.next_out = buf.data();
        z.avail_out = static_cast<uInt>(buf.size());
        rc = inflate(&z, Z_NO_FLUSH);
        out.append(reinterpret_cast<char*>(buf.data()), buf.size() - z.avail_out);
    }
    CHECK(rc == Z_STREAM_END);
    CHECK(z.avail_in == 0);  // nothing after the member
    inflateEnd(&z);
    return out;
}

std::string random_bytes(std::size_t size, unsigned seed) {
    std::mt19937_64 rng(seed);
    std::string s(size, '\0');
    for (auto& c : s) c = static_cast<char>(rng());
    return s;
}

std::string text(std::size_t size) {
    std::string s;
    for (int i = 0; s.size() < size; ++i) s += "line " + std::to_string(i % 977) + " of a layer's text file\n";
    s.resize(size);
    return s;
}

} // namespace

TEST_CASE("parallel gzip round-trips every size around the block boundary", "[gzip]") {
    const std::size_t block = ParallelGzip::block_size;
    for (const std::size_t size : {std::size_t{0}, std::size_t{1}, block - 1, block, block + 1, 3 * block + 12345}) {
        const std::string input = text(size / 2) + random_bytes(size - size / 2, static_cast<unsigned>(size));
        INFO("size " << size);
        CHECK(gunzip(compress(input, 3)) == input);
    }
}

TEST_CASE("parallel gzip output is byte-identical for any thread count and write pattern", "[gzip]") {
    const std::string input = text(2 * ParallelGzip::block_size) + random_bytes(ParallelGzip::block_size * 2 + 999, 7) +
                              text(ParallelGzip::block_size + 5);
    const std::string one = compress(input, 1);
    CHECK(compress(input, 2) == one);
    CHECK(compress(input, 8, 6, 4096) == one);
    CHECK(compress(input, 0, 6, input.size()) == one);
    // gzip header: magic, deflate, no flags, mtime 0, OS unix.
    REQUIRE(one.size() > 18);
    CHECK(one.substr(0, 10) == std::string("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", 10));
}

TEST_CASE("compressible data compresses about as well as zlib; incompressible data is stored", "[gzip]") {
    const std::string plain = text(4 * ParallelGzip::block_size);
    uLongf bound = compressBound(static_cast<uLong>(plain.size()));
    std::string single(bound, '\0');
    REQUIRE(compress2(reinterpret_cast<Bytef*>(single.data()), &bound, reinterpret_cast<const Bytef*>(plain.data()),
                      static_cast<uLong>(plain.size()), 6) == Z_OK);
    const std::string parallel = compress(plain, 2);
    CHECK(parallel.size() < plain.size() / 10);
    CHECK(static_cast<double>(parallel.size()) < 1.05 * static_cast<double>(bound) + 1024);

    const std::string noise = random_bytes(4 * ParallelGzip::block_size, 3);
    const std::string stored = compress(noise, 2);
    CHECK(gunzip(stored) == noise);
    // Stored blocks: 5 bytes per 64 KiB plus one sync marker per block, header and trailer.
    CHECK(stored.size() < noise.size() + noise.size() / 65535 * 5 + 64);
}

TEST_CASE("a block that is only partly random is still deflated", "[gzip]") {
    // Random at the start, text after: the samples in the middle and at the end compress.
    const std::string mixed = random_bytes(ParallelGzip::block_size / 4, 5) + text(ParallelGzip::block_size * 3 / 4);
    const std::string out = compress(mixed, 2);
    CHECK(gunzip(out) == mixed);
    CHECK(out.size() < ParallelGzip::block_size / 2);
}

TEST_CASE("a bad level is refused, and a failing sink's error reaches the caller", "[gzip]") {
    CHECK_THROWS_AS(ParallelGzip([](const unsigned char*, std::size_t) {}, 10), strata::Error);
    int calls = 0;
    ParallelGzip gz(
        [&](const unsigned char*, std::size_t) {
            if (++calls > 1) throw strata::Error("disk full");
        },
        6, 2);
    const std::string input = random_bytes(6 * ParallelGzip::block_size, 9);
    CHECK_THROWS_WITH(
        [&] {
            gz.write(input.data(), input.size());
            gz.finish();
        }(),
        "disk full");
}

} // namespace parallel_gzip_test
