// WWW-Authenticate challenges, token answers and base64, as registries write them.
#include "registry/auth.hpp"

#include <catch2/catch.hpp>

namespace auth_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata::registry;

TEST_CASE("a Bearer challenge gives realm, service and scope", "[registry][auth]") {
    const auto challenges = parse_www_authenticate(
        R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull")");
    REQUIRE(challenges.size() == 1);
    CHECK(challenges[0].scheme == "bearer");
    CHECK(challenges[0].param("realm") == "https://auth.docker.io/token");
    CHECK(challenges[0].param("service") == "registry.docker.io");
    CHECK(challenges[0].param("scope") == "repository:library/alpine:pull");
    CHECK(challenges[0].param("error").empty());
}

TEST_CASE("challenges: quoted commas, escapes, tokens, several schemes", "[registry][auth]") {
    const auto challenges = parse_www_authenticate(
        R"(Basic realm="Registry Realm", Bearer realm="https://a/t", scope="repository:x:pull,push", error=invalid_token, error_description="say \"hi\"")");
    REQUIRE(challenges.size() == 2);
    CHECK(challenges[0].scheme == "basic");
    CHECK(challenges[0].param("realm") == "Registry Realm");
    CHECK(challenges[1].scheme == "bearer");
    CHECK(challenges[1].param("scope") == "repository:x:pull,push");
    CHECK(challenges[1].param("error") == "invalid_token");
    CHECK(challenges[1].param("error_description") == "say \"hi\"");
}

TEST_CASE("challenges: case, blanks and junk", "[registry][auth]") {
    const auto upper = parse_www_authenticate(R"(BASIC  REALM = "x")");
    REQUIRE(upper.size() == 1);
    CHECK(upper[0].scheme == "basic");
    CHECK(upper[0].param("realm") == "x");
    CHECK(parse_www_authenticate("").empty());
    const auto token68 = parse_www_authenticate("Negotiate abc123, Basic realm=r");
    REQUIRE(token68.size() == 2);
    CHECK(token68[1].param("realm") == "r");
    CHECK_NOTHROW(parse_www_authenticate(R"(Bearer realm="unterminated)"));
}

TEST_CASE("token answers: token or access_token, expires_in at least 60 s", "[registry][auth]") {
    const auto now = std::chrono::steady_clock::now();
    const Token a = parse_token_response(R"({"token":"abc","expires_in":300})", now);
    CHECK(a.value == "abc");
    CHECK(a.expires == now + std::chrono::seconds(300));
    const Token b = parse_token_response(R"({"access_token":"xyz","expires_in":5})", now);
    CHECK(b.value == "xyz");
    CHECK(b.expires == now + std::chrono::seconds(60));
    CHECK(parse_token_response(R"({"token":"t"})", now).expires == now + std::chrono::seconds(60));
    CHECK_THROWS_WITH(parse_token_response(R"({"expires_in":5})", now), Catch::Contains("no token"));
    CHECK_THROWS_WITH(parse_token_response("<html>", now), Catch::Contains("not a JSON object"));
}

TEST_CASE("scopes and basic credentials", "[registry][auth]") {
    CHECK(repository_scope("library/alpine", false) == "repository:library/alpine:pull");
    CHECK(repository_scope("team/app", true) == "repository:team/app:pull,push");
    CHECK(basic_authorization("user", "pass:word") == "Basic dXNlcjpwYXNzOndvcmQ=");
}

TEST_CASE("base64 round trips and refuses junk", "[registry][auth]") {
    for (const std::string text : {"", "a", "ab", "abc", "abcd", "user:p@ss\xff"}) CHECK(base64_decode(base64_encode(text)) == text);
    CHECK(base64_encode("foobar") == "Zm9vYmFy");
    CHECK(base64_decode("Zm9vYg==") == "foob");
    CHECK_FALSE(base64_decode("Zm9v!").has_value());
    CHECK_FALSE(base64_decode("Zg==Zg").has_value());
}

} // namespace auth_test
