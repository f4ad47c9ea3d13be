#include "helpers.hpp"

#include <catch2/catch.hpp>

namespace records_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata;
using namespace strata::store;
using namespace strata::store::test;

TEST_CASE("records round-trip as JSON files", "[records]") {
    TempDir root(test_tmp());
    Store store(root.path());
    CHECK_FALSE(store.get_record("cache", "k1"));
    const json record = {{"schema", 1}, {"parent", "sha256:x"}, {"args", {"a", "b"}}};
    store.put_record("cache", "k1", record);
    CHECK(store.get_record("cache", "k1") == record);
    CHECK(json::parse(read_file(root.path() / "records/cache/k1.json")) == record);
    store.put_record("cache", "k1", json{{"schema", 2}});
    CHECK((*store.get_record("cache", "k1"))["schema"] == 2);
    CHECK_FALSE(store.get_record("other", "k1"));
    for (const auto& e : fs::directory_iterator(root.path() / "records/cache"))
        CHECK(e.path().filename() == "k1.json");
}

TEST_CASE("record names cannot escape the records directory", "[records]") {
    TempDir root(test_tmp());
    Store store(root.path());
    for (const std::string bad : {"", ".", "..", "a/b", "../x"}) {
        CHECK_THROWS_AS(store.put_record("cache", bad, json::object()), Error);
        CHECK_THROWS_AS(store.get_record("cache", bad), Error);
        CHECK_THROWS_AS(store.put_record(bad, "k", json::object()), Error);
    }
}

TEST_CASE("a record that is not JSON is reported, not returned", "[records]") {
    TempDir root(test_tmp());
    Store store(root.path());
    write_text(root.path() / "records/cache/bad.json", "{not json");
    CHECK_THROWS_WITH(store.get_record("cache", "bad"), Catch::Contains("bad.json"));
}

} // namespace records_test
