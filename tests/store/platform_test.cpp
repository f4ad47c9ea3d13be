// --platform and the choice of one image from a multi-platform index.
#include "store/platform.hpp"

#include <catch2/catch.hpp>

namespace platform_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata::store;
using json = nlohmann::json;

namespace {

json entry(const std::string& digest_char, json platform) {
    return {{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
            {"digest", "sha256:" + std::string(64, digest_char[0])},
            {"size", 100},
            {"platform", std::move(platform)}};
}

json sample_index() {
    return {{"schemaVersion", 2},
            {"manifests",
             {entry("a", {{"os", "linux"}, {"architecture", "amd64"}}),
              entry("b", {{"os", "linux"}, {"architecture", "arm"}, {"variant", "v6"}}),
              entry("c", {{"os", "linux"}, {"architecture", "arm"}, {"variant", "v7"}}),
              entry("d", {{"os", "linux"}, {"architecture", "arm64"}, {"variant", "v8"}}),
              entry("e", {{"os", "unknown"}, {"architecture", "unknown"}}),
              entry("f", {{"os", "windows"}, {"architecture", "amd64"}})}}};
}

} // namespace

TEST_CASE("platforms parse and normalise as containerd's", "[platform]") {
    CHECK(parse_platform("linux/amd64") == Platform{"linux", "amd64", ""});
    CHECK(parse_platform("linux/x86_64") == Platform{"linux", "amd64", ""});
    CHECK(parse_platform("linux/aarch64") == Platform{"linux", "arm64", ""});
    CHECK(parse_platform("linux/arm64/v8") == Platform{"linux", "arm64", ""});
    CHECK(parse_platform("linux/arm/v7").string() == "linux/arm/v7");
    CHECK_THROWS_WITH(parse_platform("linux"), Catch::Contains("os/arch[/variant]"));
    CHECK_THROWS(parse_platform("linux//v7"));
    CHECK_THROWS(parse_platform("a/b/c/d"));
    CHECK(host_platform().os == "linux");
    CHECK_FALSE(host_platform().architecture.empty());
}

TEST_CASE("an index's manifest for a platform", "[platform]") {
    const json index = sample_index();
    CHECK(select_platform(index, {"linux", "amd64", ""}).digest == "sha256:" + std::string(64, 'a'));
    CHECK(select_platform(index, {"linux", "arm", "v7"}).digest == "sha256:" + std::string(64, 'c'));
    CHECK(select_platform(index, {"linux", "arm", ""}).digest == "sha256:" + std::string(64, 'b'));  // the first arm
    CHECK(select_platform(index, parse_platform("linux/arm64/v8")).digest == "sha256:" + std::string(64, 'd'));
    CHECK(select_platform(index, {"windows", "amd64", ""}).digest == "sha256:" + std::string(64, 'f'));
    CHECK_THROWS_WITH(select_platform(index, {"linux", "s390x", ""}),
                      Catch::Contains("no image for linux/s390x") && Catch::Contains("linux/arm/v7") &&
                          !Catch::Contains("unknown"));
    CHECK_THROWS_WITH(select_platform(index, {"linux", "arm", "v5"}), Catch::Contains("linux/arm/v5"));
    CHECK_THROWS(select_platform(json{{"schemaVersion", 2}}, {"linux", "amd64", ""}));
}

TEST_CASE("an index of one entry without a platform is that entry's image", "[platform]") {
    const std::string v6 = "sha256:" + std::string(64, '6');
    const json bare = {{"manifests", {{{"mediaType", media::manifest}, {"digest", v6}, {"size", 1}}}}};
    CHECK(platform_manifest(bare, parse_platform("linux/amd64"))->digest == v6);
    CHECK_FALSE(platform_manifest(sample_index(), parse_platform("linux/s390x")));
    CHECK(platform_manifest(sample_index(), parse_platform("linux/arm/v7"))->digest == "sha256:" + std::string(64, 'c'));
}

} // namespace platform_test
