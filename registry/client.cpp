#include "registry/client.hpp"

#include "util/fs.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <thread>

namespace strata::registry {

namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* system_ca_bundle = "/etc/ssl/certs/ca-certificates.crt";

// The system's CAs and the registry's own (certs.d *.crt) as one PEM bundle: libcurl
// takes one CA source, and a registry CA must not replace the public ones.
TlsOptions tls_options(const std::string& host, const HostSettings& settings) {
    TlsOptions tls;
    tls.verify = settings.tls_verify;
    const TlsFiles files = tls_files(host, settings.certs_dirs);
    if (!files.ca_files.empty()) {
        std::error_code ec;
        if (fs::exists(system_ca_bundle, ec)) tls.ca_bundle = read_file(system_ca_bundle) + "\n";
        for (const auto& ca : files.ca_files) tls.ca_bundle += read_file(ca) + "\n";
    }
    if (!files.client.empty()) {
        tls.client_cert = files.client.front().cert;
        tls.client_key = files.client.front().key;
    }
    return tls;
}

std::string scope_key(const std::vector<std::string>& scopes) {
    std::string key;
    for (const auto& scope : scopes) key += scope + " ";
    return key;
}

std::string host_of(const std::string& base) {
    const auto start = base.find("://");
    const std::string rest = start == std::string::npos ? base : base.substr(start + 3);
    return rest.substr(0, rest.find('/'));
}

bool worth_retrying(const HttpResponse& response) { return response.status >= 500 || response.status == 429; }

} // namespace

std::string describe_failure(const HttpResponse& response) {
    std::string text = "HTTP " + response.status_text();
    const auto doc = nlohmann::json::parse(response.body, nullptr, false);
    if (doc.is_object() && doc.contains("errors") && doc["errors"].is_array()) {
        for (const auto& e : doc["errors"]) {
            if (!e.is_object()) continue;
            const auto code = e.value("code", std::string());
            const auto message = e.value("message", std::string());
            text += ": " + code + (message.empty() ? "" : ": " + message);
        }
    }
    return text;
}

void throw_failure(const std::string& what, const HttpResponse& response) {
    std::string text = what + ": " + describe_failure(response);
    if (response.status == 401) text += " (wrong credentials, or none: see 'strata login')";
    throw Error(text);
}

void backoff(const RetryPolicy& policy, int attempt, const HttpResponse* response) {
    auto delay = policy.first_delay * (1 << std::min(attempt - 1, 6));
    if (response && response->status == 429) {
        const std::string after = response->header("retry-after");
        if (!after.empty() && std::all_of(after.begin(), after.end(), ::isdigit))
            delay = std::chrono::milliseconds(std::min(std::stoll(after), 60LL) * 1000);
    }
    std::this_thread::sleep_for(delay);
}

Registry::Registry(std::string domain, RegistryOptions options, std::optional<std::string> base)
    : domain_(std::move(domain)), options_(std::move(options)), base_(std::move(base)) {
    host_ = base_ ? host_of(*base_) : api_host(domain_);
    tls_ = with_context("registry '" + host_ + "'", [&] { return tls_options(host_, options_.hosts); });
}

std::string Registry::base() {
    const std::lock_guard lock(mutex_);
    if (!base_) throw Error("registry '" + domain_ + "' used before ping");
    return *base_;
}

void Registry::ping(HttpClient& http) {
    const std::lock_guard lock(mutex_);
    if (pinged_) return;
    for (int attempt = 1;; ++attempt) {
        try {
            ping_locked(http);
            pinged_ = true;
            return;
        } catch (const TransportError& e) {
            if (!e.transient() || attempt >= options_.retry.attempts) throw;
        }
        backoff(options_.retry, attempt);
    }
}

void Registry::ping_locked(HttpClient& http) {
    HttpResponse response;
    if (base_) {
        response = http.perform(get_request(*base_ + "/v2/"), tls_);
    } else {
        const std::string secure = "https://" + host_;
        try {
            response = http.perform(get_request(secure + "/v2/"), tls_);
            base_ = secure;
        } catch (const TransportError& e) {
            // An insecure registry may speak plain http; any other stays on https.
            const bool refused_or_not_tls = e.tls_handshake() || e.curl_code() == CURLE_COULDNT_CONNECT;
            if (!refused_or_not_tls || !is_insecure(host_, options_.hosts.insecure)) throw;
            const std::string plain = "http://" + host_;
            response = http.perform(get_request(plain + "/v2/"), tls_);
            base_ = plain;
        }
    }
    if (response.status == 401) {
        const auto challenges = parse_www_authenticate(response.header("www-authenticate"));
        for (const auto& c : challenges) {
            if (c.scheme == "bearer" || c.scheme == "basic") {
                challenge_ = c;
                break;
            }
        }
        return;
    }
    if (response.status >= 500 || response.status == 429) throw TransportError("GET " + *base_ + "/v2/: " + describe_failure(response), describe_failure(response), 0, true);
    if (response.status != 200)
        throw Error("'" + host_ + "' is not a registry: GET /v2/ answered " + describe_failure(response));
}

std::optional<std::string> Registry::authorization(HttpClient& http, const std::vector<std::string>& scopes) {
    const std::lock_guard lock(mutex_);
    if (!challenge_) return std::nullopt;
    if (!credentials_read_) {
        credentials_ = find_credentials(options_.credentials, domain_);
        credentials_read_ = true;
    }
    if (challenge_->scheme == "basic") {
        if (!credentials_) return std::nullopt;
        return basic_authorization(credentials_->username, credentials_->password);
    }
    const std::string key = scope_key(scopes);
    const auto cached = tokens_.find(key);
    // A token close to its end is replaced: it could expire on the way.
    if (cached != tokens_.end() && Clock::now() + std::chrono::seconds(5) < cached->second.expires)
        return "Bearer " + cached->second.value;
    Token token = fetch_token(http, *challenge_, scopes);
    tokens_[key] = token;
    return "Bearer " + token.value;
}

Token Registry::fetch_token(HttpClient& http, const Challenge& challenge, const std::vector<std::string>& scopes) {
    const std::string realm = challenge.param("realm");
    if (realm.empty()) throw Error("registry '" + host_ + "' asks for a Bearer token but names no realm");
    return with_context("getting a token from '" + realm + "'", [&] {
        HttpRequest request;
        std::string url = realm;
        if (!challenge.param("service").empty()) url = with_query(url, "service", challenge.param("service"));
        for (const auto& scope : scopes) url = with_query(url, "scope", scope);
        if (credentials_ && !credentials_->identity_token.empty()) {
            // An OAuth2 refresh token (docker login's identitytoken) is posted as a form.
            std::string form = "grant_type=refresh_token&client_id=strata&refresh_token=" + percent_encode(credentials_->identity_token);
            form += "&service=" + percent_encode(challenge.param("service"));
            for (const auto& scope : scopes) form += "&scope=" + percent_encode(scope);
            request.method = "POST";
            request.url = realm;
            request.headers.push_back("Content-Type: application/x-www-form-urlencoded");
            request.body_size = static_cast<std::int64_t>(form.size());
            request.body = [form](std::int64_t offset, char* buffer, std::size_t size) {
                const std::size_t n = std::min(size, form.size() - static_cast<std::size_t>(offset));
                form.copy(buffer, n, static_cast<std::size_t>(offset));
                return n;
            };
        } else {
            request.url = url;
            if (credentials_)
                request.headers.push_back("Authorization: " + basic_authorization(credentials_->username, credentials_->password));
        }
        const auto sent = Clock::now();
        const HttpResponse response = http.perform(request, tls_);
        if (response.status == 401 || response.status == 403)
            throw Error(describe_failure(response) + (credentials_ ? " (wrong username or password?)" : " (no credentials: see 'strata login')"));
        if (response.status != 200) throw Error(describe_failure(response));
        return parse_token_response(response.body, sent);
    });
}

void Registry::learn_challenge(const HttpResponse& response, const std::vector<std::string>& scopes, const std::string& refused) {
    const std::lock_guard lock(mutex_);
    for (const auto& c : parse_www_authenticate(response.header("www-authenticate"))) {
        if (c.scheme == "bearer" || c.scheme == "basic") {
            challenge_ = c;
            break;
        }
    }
    const auto token = tokens_.find(scope_key(scopes));
    if (token != tokens_.end() && "Bearer " + token->second.value == refused) tokens_.erase(token);  // expired or revoked
}

HttpResponse Registry::send(HttpClient& http, const HttpRequest& request, const std::vector<std::string>& scopes) {
    ping(http);
    HttpResponse response;
    for (int round = 0; round < 3; ++round) {
        HttpRequest authorized = request;
        const auto header = authorization(http, scopes);
        if (header) authorized.headers.push_back("Authorization: " + *header);
        response = http.perform(authorized, tls_);
        if (response.status != 401) return response;
        learn_challenge(response, scopes, header.value_or(""));
        const std::lock_guard lock(mutex_);
        if (!challenge_ || (challenge_->scheme == "basic" && round > 0)) break;  // a refused password stays refused
    }
    return response;
}

HttpResponse Registry::send_retrying(HttpClient& http, const HttpRequest& request, const std::vector<std::string>& scopes,
                                     const std::string& what) {
    for (int attempt = 1;; ++attempt) {
        try {
            HttpResponse response = send(http, request, scopes);
            if (!worth_retrying(response) || attempt >= options_.retry.attempts) return response;
            backoff(options_.retry, attempt, &response);
        } catch (const TransportError& e) {
            if (!e.transient() || attempt >= options_.retry.attempts) throw Error(what + ": " + e.message());
            backoff(options_.retry, attempt);
        }
    }
}

void Registry::check_credentials(HttpClient& http, const Credentials& credentials) {
    {
        const std::lock_guard lock(mutex_);
        credentials_ = credentials;
        credentials_read_ = true;
    }
    ping(http);
    const std::lock_guard lock(mutex_);
    if (!challenge_) return;  // the registry asks for none
    if (challenge_->scheme == "bearer") {
        fetch_token(http, *challenge_, {});
        return;
    }
    const HttpRequest request =
        get_request(*base_ + "/v2/", {"Authorization: " + basic_authorization(credentials.username, credentials.password)});
    const HttpResponse response = http.perform(request, tls_);
    if (response.status == 401) throw Error(describe_failure(response) + " (wrong username or password)");
    if (response.status != 200) throw Error(describe_failure(response));
}

} // namespace strata::registry
