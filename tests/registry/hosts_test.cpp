// Which registries may use plain http, where their TLS files are, and the API's URLs.
#include "registry/hosts.hpp"

#include "tests/common/shell.hpp"

#include <catch2/catch.hpp>

namespace hosts_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata::registry;
using strata::test::ScratchDir;
using strata::test::write_text;

TEST_CASE("loopback registries are insecure by default, others when listed", "[registry][hosts]") {
    for (const char* host : {"localhost", "localhost:5000", "127.0.0.1", "127.0.0.1:5000", "127.3.4.5:80", "[::1]:5000", "::1"})
        CHECK(is_insecure(host, {}));
    for (const char* host : {"docker.io", "reg.example.com:5000", "10.1.2.3:5000", "128.0.0.1", "localhost.example.com"})
        CHECK_FALSE(is_insecure(host, {}));
    const std::vector<std::string> listed{"reg.example.com:5000", "10.0.0.0/8", "plain"};
    CHECK(is_insecure("reg.example.com:5000", listed));
    CHECK_FALSE(is_insecure("reg.example.com:6000", listed));
    CHECK(is_insecure("10.1.2.3:5000", listed));
    CHECK_FALSE(is_insecure("11.1.2.3", listed));
    CHECK(is_insecure("plain:443", listed));  // a bare host covers its ports
}

TEST_CASE("docker.io's API host, and URLs of the distribution API", "[registry][hosts]") {
    CHECK(api_host("docker.io") == "registry-1.docker.io");
    CHECK(api_host("reg:5000") == "reg:5000");
    const std::string base = "https://reg:5000";
    CHECK(manifest_url(base, "team/app", "1.0") == "https://reg:5000/v2/team/app/manifests/1.0");
    CHECK(blob_url(base, "a", "sha256:00") == "https://reg:5000/v2/a/blobs/sha256:00");
    CHECK(upload_url(base, "a") == "https://reg:5000/v2/a/blobs/uploads/");
    CHECK(mount_url(base, "a", "sha256:ab", "b/c") == "https://reg:5000/v2/a/blobs/uploads/?mount=sha256%3Aab&from=b%2Fc");
    CHECK(with_query("http://r/u?_state=x", "digest", "sha256:1") == "http://r/u?_state=x&digest=sha256%3A1");
    CHECK(absolute_location(base, "/v2/a/blobs/uploads/u?x=1") == "https://reg:5000/v2/a/blobs/uploads/u?x=1");
    CHECK(absolute_location(base, "https://s3/u") == "https://s3/u");
    CHECK_THROWS(absolute_location(base, "relative/u"));
    CHECK(mirror_base("mirror:5000/", {}) == "https://mirror:5000");
    CHECK(mirror_base("localhost:5000", {}) == "http://localhost:5000");
    CHECK(mirror_base("http://m", {}) == "http://m");
}

TEST_CASE("certs.d: CAs, client pairs, and a key without its certificate", "[registry][hosts]") {
    ScratchDir a, b;
    write_text(a.path() / "reg:5000" / "ca.crt", "CA");
    write_text(a.path() / "reg:5000" / "client.cert", "CERT");
    write_text(a.path() / "reg:5000" / "client.key", "KEY");
    write_text(b.path() / "reg:5000" / "other.crt", "CA2");
    write_text(b.path() / "elsewhere:1" / "x.crt", "CA3");
    const auto files = tls_files("reg:5000", {a.path().string(), b.path().string(), "/nonexistent"});
    REQUIRE(files.ca_files.size() == 2);
    CHECK(files.ca_files[0] == (a.path() / "reg:5000" / "ca.crt").string());
    CHECK(files.ca_files[1] == (b.path() / "reg:5000" / "other.crt").string());
    REQUIRE(files.client.size() == 1);
    CHECK(files.client[0].key == (a.path() / "reg:5000" / "client.key").string());
    CHECK(tls_files("none:1", {a.path().string()}).ca_files.empty());

    write_text(b.path() / "lonely:1" / "client.key", "KEY");
    CHECK_THROWS_WITH(tls_files("lonely:1", {b.path().string()}), Catch::Contains("has no certificate"));
    write_text(b.path() / "lonely:2" / "client.cert", "CERT");
    CHECK_THROWS_WITH(tls_files("lonely:2", {b.path().string()}), Catch::Contains("has no key"));
}

TEST_CASE("settings come from the environment", "[registry][hosts]") {
    ::setenv("STRATA_INSECURE_REGISTRIES", "a:1,b", 1);
    ::setenv("STRATA_REGISTRY_MIRROR", "https://mirror", 1);
    ::setenv("STRATA_CERTS_DIRS", "/x:/y", 1);
    const HostSettings s = settings_from_environment();
    CHECK(s.insecure == std::vector<std::string>{"a:1", "b"});
    CHECK(s.mirror == "https://mirror");
    CHECK(s.certs_dirs == std::vector<std::string>{"/x", "/y"});
    ::unsetenv("STRATA_INSECURE_REGISTRIES");
    ::unsetenv("STRATA_REGISTRY_MIRROR");
    ::unsetenv("STRATA_CERTS_DIRS");
    const HostSettings d = settings_from_environment();
    CHECK(d.insecure.empty());
    CHECK_FALSE(d.mirror.has_value());
    CHECK(d.certs_dirs == std::vector<std::string>{"/etc/containers/certs.d", "/etc/docker/certs.d"});
}

} // namespace hosts_test
