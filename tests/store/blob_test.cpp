#include "helpers.hpp"

#include "util/sha256.hpp"

#include <catch2/catch.hpp>

namespace blob_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata;
using namespace strata::store;
using namespace strata::store::test;

namespace {
std::size_t count_entries(const fs::path& dir) {
    return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}
} // namespace

TEST_CASE("put_blob stores content under its sha256", "[blob]") {
    TempDir root(test_tmp());
    Store store(root.path());
    const Descriptor d = store.put_blob("hello", "text/plain");
    // sha256("hello"), as printed by sha256sum.
    CHECK(d.digest == "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
    CHECK(d.size == 5);
    CHECK(d.media_type == "text/plain");
    CHECK(store.has_blob(d.digest));
    CHECK(store.blob_path(d.digest) == root.path() / "oci/blobs/sha256/2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
    CHECK(read_file(store.blob_path(d.digest)) == "hello");
    CHECK(store.read_blob(d.digest) == "hello");
    CHECK_FALSE(store.has_blob(sha256_digest("other")));
    CHECK(count_entries(store.tmp_dir()) == 0);
}

TEST_CASE("BlobWriter streams, and leaves no temp file whatever happens", "[blob]") {
    TempDir root(test_tmp());
    Store store(root.path());
    {
        BlobWriter w = store.new_blob();
        for (int i = 0; i < 1000; ++i) w.write("0123456789", 10);
        CHECK(count_entries(store.tmp_dir()) == 1);
        const Descriptor d = w.commit("x");
        std::string expect;
        for (int i = 0; i < 1000; ++i) expect += "0123456789";
        CHECK(d.digest == sha256_digest(expect));
        CHECK(d.size == 10000);
    }
    CHECK(count_entries(store.tmp_dir()) == 0);
    {
        BlobWriter w = store.new_blob();
        w.write("abandoned", 9);
    }
    CHECK(count_entries(store.tmp_dir()) == 0);
    CHECK_FALSE(store.has_blob(sha256_digest("abandoned")));
    {
        BlobWriter w = store.new_blob();
        w.write("data", 4);
        CHECK_THROWS_AS(w.commit("x", sha256_digest("other data")), Error);
    }
    CHECK(count_entries(store.tmp_dir()) == 0);
    CHECK_FALSE(store.has_blob(sha256_digest("data")));
    {
        BlobWriter w = store.new_blob();
        w.write("data", 4);
        CHECK(w.commit("x", sha256_digest("data")).digest == sha256_digest("data"));
    }
    CHECK(store.has_blob(sha256_digest("data")));
}

TEST_CASE("storing the same blob twice keeps one copy", "[blob]") {
    TempDir root(test_tmp());
    Store store(root.path());
    const auto a = store.put_blob("same", "x");
    const auto b = store.put_blob("same", "x");
    CHECK(a.digest == b.digest);
    CHECK(count_entries(root.path() / "oci/blobs/sha256") == 1);
}

TEST_CASE("read_blob detects a corrupted blob and names it", "[blob]") {
    TempDir root(test_tmp());
    Store store(root.path());
    const Descriptor d = store.put_blob("precious", "x");
    fs::permissions(store.blob_path(d.digest), fs::perms::owner_write, fs::perm_options::add);
    write_text(store.blob_path(d.digest), "tampered");
    try {
        store.read_blob(d.digest);
        FAIL("corruption not detected");
    } catch (const Error& e) {
        CHECK_THAT(e.what(), Catch::Contains(d.digest));
    }
}

TEST_CASE("blob_path rejects malformed digests", "[blob]") {
    TempDir root(test_tmp());
    Store store(root.path());
    CHECK_THROWS_AS(store.blob_path("sha256:../../../etc/passwd"), Error);
    CHECK_THROWS_AS(store.blob_path("sha256:" + std::string(64, 'A')), Error);
    CHECK_THROWS_AS(store.blob_path("sha512:" + std::string(64, 'a')), Error);
    CHECK_THROWS_AS(store.blob_path(std::string(64, 'a')), Error);
    CHECK_THROWS_AS(store.blob_path(""), Error);
    CHECK_THROWS_AS(store.read_blob("sha256:../x"), Error);
    CHECK_THROWS_AS(store.has_blob("sha256:/etc"), Error);
}

} // namespace blob_test
