#include "sandbox/userns.hpp"
#include "util/error.hpp"

#include <catch2/catch.hpp>

namespace userns_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata::sandbox;

TEST_CASE("subordinate ranges: the first listed user that has both a uid and a gid range", "[userns]") {
    const std::string subuid = "alice:100000:65536\nstrata:1000000:65536\ncontainers:3000000:100000\n";
    const std::string subgid = "alice:100000:65536\nstrata:1200000:65536\ncontainers:3000000:100000\n";
    const auto mapping = subordinate_mapping(subuid, subgid, {"strata", "containers"}, 65536);
    REQUIRE(mapping);
    CHECK(mapping->host_uid == 1000000);
    CHECK(mapping->host_gid == 1200000);
    CHECK(mapping->size == 65536);

    // strata lacks a gid range: containers' is taken, cut to the size asked for.
    const auto fallback = subordinate_mapping(subuid, "containers:3000000:100000\n", {"strata", "containers"}, 65536);
    REQUIRE(fallback);
    CHECK(fallback->host_uid == 3000000);
    CHECK(fallback->size == 65536);

    // A smaller grant is used whole; the smaller of the two sets the size.
    const auto small = subordinate_mapping("strata:500000:1000\n", "strata:600000:2000\n", {"strata"}, 65536);
    REQUIRE(small);
    CHECK(small->size == 1000);

    CHECK_FALSE(subordinate_mapping(subuid, subgid, {"bob"}, 65536));
    CHECK_FALSE(subordinate_mapping("", "", {"strata"}, 65536));
    // Malformed and empty lines are skipped, the first good line for the user counts.
    const auto skipped = subordinate_mapping("strata:x:1\nstrata:7:0\n\nstrata:9:5\n", "strata:9:5\n", {"strata"}, 65536);
    REQUIRE(skipped);
    CHECK(skipped->host_uid == 9);
    CHECK(skipped->size == 5);
}

TEST_CASE("--uidmap values: one range from container id 0", "[userns]") {
    const auto range = parse_id_map("--uidmap", "0:100000:65536");
    CHECK(range.host == 100000);
    CHECK(range.size == 65536);
    const auto message = [](const std::string& text) {
        try {
            parse_id_map("--uidmap", text);
        } catch (const strata::Error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    CHECK(message("100000") == "--uidmap '100000': expected CONTAINER:HOST:SIZE, e.g. 0:100000:65536");
    CHECK(message("0:a:1") == "--uidmap '0:a:1': expected three numbers CONTAINER:HOST:SIZE");
    CHECK(message("5:100000:10") == "--uidmap '5:100000:10': strata maps one range, starting at container id 0");
    CHECK(message("0:100000:0") == "--uidmap '0:100000:0': the size must be positive");
    CHECK(message("0:100000:-1") == "--uidmap '0:100000:-1': expected three numbers CONTAINER:HOST:SIZE");
}

TEST_CASE("container ids map to host ids inside the range only", "[userns]") {
    const IdMapping mapping{100000, 200000, 65536};
    CHECK(host_uid(mapping, 0) == 100000);
    CHECK(host_gid(mapping, 0) == 200000);
    CHECK(host_uid(mapping, 65535) == 165535);
    CHECK(host_uid(mapping, 65536) == 65536);  // outside: left alone
}

TEST_CASE("a user namespace is refused for an empty or root-including range", "[userns]") {
    CHECK_THROWS_WITH(make_user_namespace(IdMapping{100000, 100000, 0}), Catch::Contains("empty"));
    CHECK_THROWS_WITH(make_user_namespace(IdMapping{0, 100000, 65536}), Catch::Contains("must not include root"));
    CHECK_THROWS_WITH(make_user_namespace(IdMapping{4294967000u, 100000, 65536}), Catch::Contains("beyond"));
}

} // namespace userns_test
