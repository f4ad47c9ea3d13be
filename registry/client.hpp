#pragma once
// One registry as the distribution API sees it: its base URL (https, or http for an
// insecure registry that does not speak TLS), TLS files, and authentication (anonymous,
// Basic, or Bearer tokens from the WWW-Authenticate challenge, cached per scope for the
// process). Shared by the transfer threads; each brings its own HttpClient.
#include "registry/auth.hpp"
#include "registry/credentials.hpp"
#include "registry/hosts.hpp"
#include "registry/http.hpp"

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace strata::registry {

struct RetryPolicy {
    int attempts = 6;  // 0.5 + 1 + 2 + 4 + 8 s of waiting at most: a registry restart fits
    std::chrono::milliseconds first_delay{500};
};

struct RegistryOptions {
    HostSettings hosts = settings_from_environment();
    CredentialFiles credentials = credential_files_from_environment();
    RetryPolicy retry;
};

class Registry {
public:
    // `domain` as in a reference ("docker.io", "reg:5000"): its credentials; `base` forces
    // the API's URL ("https://mirror:5000"), else it is found by ping().
    Registry(std::string domain, RegistryOptions options, std::optional<std::string> base = std::nullopt);

    const std::string& domain() const noexcept { return domain_; }
    const RegistryOptions& options() const noexcept { return options_; }
    // GET /v2/: picks the scheme and learns the challenge. Once per process, thread-safe.
    void ping(HttpClient& http);
    std::string base();  // after ping()

    // Sends with credentials for `scopes`, answering challenges (a new token when one was
    // refused, so an expired token is replaced). No retries: see send_retrying.
    HttpResponse send(HttpClient& http, const HttpRequest& request, const std::vector<std::string>& scopes);
    // send() again after connection failures, 5xx and 429, waiting longer each time
    // (429's Retry-After when it gives one). `what` names the operation in messages.
    HttpResponse send_retrying(HttpClient& http, const HttpRequest& request, const std::vector<std::string>& scopes,
                               const std::string& what);
    // Asks for credentials on /v2/ and throws when the registry refuses them (login).
    void check_credentials(HttpClient& http, const Credentials& credentials);

    TlsOptions tls() const { return tls_; }

private:
    std::optional<std::string> authorization(HttpClient& http, const std::vector<std::string>& scopes);
    // `refused` is the Authorization header the 401 answered: a token other threads have
    // replaced meanwhile is not dropped again.
    void learn_challenge(const HttpResponse& response, const std::vector<std::string>& scopes, const std::string& refused);
    Token fetch_token(HttpClient& http, const Challenge& challenge, const std::vector<std::string>& scopes);
    void ping_locked(HttpClient& http);

    std::string domain_;
    std::string host_;  // the API host ("registry-1.docker.io"): TLS files, insecure rules
    RegistryOptions options_;
    TlsOptions tls_;
    std::mutex mutex_;
    std::optional<std::string> base_;
    bool pinged_ = false;
    std::optional<Challenge> challenge_;
    std::optional<Credentials> credentials_;
    bool credentials_read_ = false;
    std::map<std::string, Token> tokens_;  // by scope list
};

// The registry's own words for a failed request: "HTTP 401 Unauthorized: UNAUTHORIZED:
// authentication required" (the errors of distribution's JSON body when it has them).
std::string describe_failure(const HttpResponse& response);
[[noreturn]] void throw_failure(const std::string& what, const HttpResponse& response);

// Sleeps before attempt `attempt` (1-based) of a retried operation.
void backoff(const RetryPolicy& policy, int attempt, const HttpResponse* response = nullptr);

} // namespace strata::registry
