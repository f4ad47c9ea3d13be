// Registry names from login arguments, and the registry's error documents in messages.
#include "registry/client.hpp"
#include "registry/registry.hpp"

#include <catch2/catch.hpp>

namespace client_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata::registry;

TEST_CASE("login arguments name registries as docker reads them", "[registry][client]") {
    CHECK(registry_domain("") == "docker.io");
    CHECK(registry_domain("docker.io") == "docker.io");
    CHECK(registry_domain("https://index.docker.io/v1/") == "docker.io");
    CHECK(registry_domain("registry-1.docker.io") == "docker.io");
    CHECK(registry_domain("reg:5000") == "reg:5000");
    CHECK(registry_domain("https://reg:5000/v2/") == "reg:5000");
    CHECK(registry_domain("reg:5000/team/app") == "reg:5000");
}

TEST_CASE("failures carry the status and the registry's own error codes", "[registry][client]") {
    HttpResponse response;
    response.status = 401;
    response.status_line = "HTTP/1.1 401 Unauthorized";
    response.body = R"({"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]})";
    CHECK(describe_failure(response) == "HTTP 401 Unauthorized: UNAUTHORIZED: authentication required");
    CHECK_THROWS_WITH(throw_failure("GET manifest", response),
                      Catch::StartsWith("GET manifest: HTTP 401 Unauthorized") && Catch::Contains("strata login"));
    response.status = 500;
    response.status_line = "HTTP/1.1 500 Internal Server Error";
    response.body = "<html>oops</html>";
    CHECK(describe_failure(response) == "HTTP 500 Internal Server Error");
    response.headers = {{"retry-after", "1"}, {"www-authenticate", "Basic realm=x"}, {"www-authenticate", "Bearer realm=y"}};
    CHECK(response.header("retry-after") == "1");
    CHECK(response.all("www-authenticate").size() == 2);
    CHECK(response.header("location").empty());
}

} // namespace client_test
