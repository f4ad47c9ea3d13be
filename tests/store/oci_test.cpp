#include "store/store.hpp"
#include "util/error.hpp"
#include "util/sha256.hpp"

#include <catch2/catch.hpp>

namespace oci_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata;
using namespace strata::store;

TEST_CASE("normalize_tag adds :latest only where no tag is given", "[oci]") {
    CHECK(normalize_tag("hello") == "hello:latest");
    CHECK(normalize_tag("hello:1") == "hello:1");
    CHECK(normalize_tag("reg:5000/x") == "reg:5000/x:latest");
    CHECK(normalize_tag("reg:5000/x:2") == "reg:5000/x:2");
    CHECK(normalize_tag("a/b/c") == "a/b/c:latest");
    const std::string pinned = "x@sha256:" + std::string(64, 'a');
    CHECK(normalize_tag(pinned) == pinned);
    CHECK_THROWS_AS(normalize_tag(""), Error);
    CHECK_THROWS_AS(normalize_tag("has space"), Error);
    CHECK_THROWS_AS(normalize_tag("/abs"), Error);
    CHECK_THROWS_AS(normalize_tag("x:"), Error);
}

TEST_CASE("chain ids follow the OCI definition", "[oci]") {
    const std::string d0 = sha256_digest("layer0"), d1 = sha256_digest("layer1"), d2 = sha256_digest("layer2");
    const auto chain = chain_ids({d0, d1, d2});
    REQUIRE(chain.size() == 3);
    CHECK(chain[0] == d0);
    CHECK(chain[1] == sha256_digest(d0 + " " + d1));
    CHECK(chain[2] == sha256_digest(chain[1] + " " + d2));
    CHECK(next_chain_id("", d0) == d0);
    CHECK(next_chain_id(chain[1], d2) == chain[2]);
    CHECK(chain_ids({}).empty());
    CHECK_THROWS_AS(next_chain_id("", "sha256:xyz"), Error);
    CHECK_THROWS_AS(next_chain_id("bad", d1), Error);
}

TEST_CASE("descriptors round-trip through JSON and reject malformed input", "[oci]") {
    Descriptor d{media::layer_gzip, sha256_digest("x"), 42, {{"k", "v"}}};
    const auto j = to_json(d);
    CHECK(j["mediaType"] == media::layer_gzip);
    CHECK(j["size"] == 42);
    const Descriptor back = descriptor_from_json(j);
    CHECK(back.media_type == d.media_type);
    CHECK(back.digest == d.digest);
    CHECK(back.size == 42);
    CHECK(back.annotations == d.annotations);
    CHECK_FALSE(to_json(Descriptor{media::config, d.digest, 1, {}}).contains("annotations"));

    auto broken = j;
    broken["digest"] = "sha256:1234";
    CHECK_THROWS_AS(descriptor_from_json(broken), Error);
    broken = j;
    broken["size"] = -1;
    CHECK_THROWS_AS(descriptor_from_json(broken), Error);
    broken = j;
    broken.erase("mediaType");
    CHECK_THROWS_AS(descriptor_from_json(broken), Error);
    broken = j;
    broken["annotations"] = {{"k", 1}};
    CHECK_THROWS_AS(descriptor_from_json(broken), Error);
    CHECK_THROWS_AS(descriptor_from_json(nlohmann::json::array()), Error);
}

} // namespace oci_test
