#pragma once
// Registry authentication: the challenges of a 401's WWW-Authenticate header, the scopes
// a Bearer token is asked for, and the token service's answer (distribution's token spec).
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace strata::registry {

struct Challenge {
    std::string scheme;  // lower case: "basic", "bearer"
    std::map<std::string, std::string> params;  // lower-case names: realm, service, scope, error
    std::string param(const std::string& name) const;  // "" when absent
};

// RFC 7235 challenges: `Bearer realm="https://auth",service="reg",scope="a b", Basic realm="x"`.
// Quoted strings may hold commas and escaped quotes. Malformed parts are skipped, not thrown.
std::vector<Challenge> parse_www_authenticate(std::string_view header);

// "repository:library/alpine:pull" / "repository:x:pull,push".
std::string repository_scope(std::string_view repository, bool push);

struct Token {
    std::string value;
    std::chrono::steady_clock::time_point expires;
};
// The token service's JSON: "token" or "access_token", "expires_in" in seconds (60 when
// absent or smaller, as the spec says). `now` is when the request was sent.
Token parse_token_response(std::string_view body, std::chrono::steady_clock::time_point now);

// Basic credentials as a header value: "Basic " + base64("user:password").
std::string basic_authorization(std::string_view username, std::string_view password);

std::string base64_encode(std::string_view data);
std::optional<std::string> base64_decode(std::string_view text);  // nullopt when malformed

} // namespace strata::registry
