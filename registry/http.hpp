#pragma once
// One HTTP exchange at a time over a reused libcurl easy handle (its connections stay
// open between requests). Bodies go both ways through callbacks in bounded pieces: a
// layer is never held in memory. Transport failures throw TransportError, saying whether
// trying again may help; HTTP statuses are the caller's to judge.
#include "util/error.hpp"
#include "util/libcurl.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace strata::registry {

struct TlsOptions {
    bool verify = true;
    std::string ca_bundle;  // PEM: the system's CAs and the registry's own; "" = libcurl's default
    std::string client_cert, client_key;  // PEM files, both or neither
};

struct HttpResponse;

struct HttpRequest {
    std::string method = "GET";  // GET, HEAD, POST, PUT, PATCH, DELETE
    std::string url;
    std::vector<std::string> headers;  // "Name: value"
    // The request body, read at an offset so that a repeated request can start over.
    std::function<std::size_t(std::int64_t offset, char* buffer, std::size_t size)> body;
    std::int64_t body_size = 0;
    // Receives a 2xx response's body as it arrives (may throw: the transfer stops and the
    // exception is rethrown). Without it, bodies are collected into HttpResponse::body.
    std::function<void(const char* data, std::size_t size)> on_body;
    // Called once with a 2xx response's status and headers before its first body byte
    // reaches on_body (a resumed GET checks that the server sent the range it asked for).
    std::function<void(const HttpResponse& response)> on_response;
    bool follow_redirects = false;  // blob GETs: registries redirect to their storage
};

HttpRequest get_request(std::string url, std::vector<std::string> headers = {});

struct HttpResponse {
    long status = 0;
    std::string status_line;  // "HTTP/1.1 404 Not Found"
    std::vector<std::pair<std::string, std::string>> headers;  // names in lower case
    std::string body;  // unless streamed to on_body; at most max_collected_body bytes
    std::string header(std::string_view name) const;  // the first one; "" when absent
    std::vector<std::string> all(std::string_view name) const;
    std::string status_text() const;  // "404 Not Found"
};

inline constexpr std::size_t max_collected_body = 8u << 20;  // manifests, tokens, error documents

class TransportError : public Error {
public:
    TransportError(std::string message, std::string reason, int curl_code, bool transient)
        : Error(std::move(message)), reason_(std::move(reason)), curl_code_(curl_code), transient_(transient) {}
    const std::string& reason() const noexcept { return reason_; }  // libcurl's words, without the request
    int curl_code() const noexcept { return curl_code_; }
    bool transient() const noexcept { return transient_; }  // a reset, a timeout, a refused connection
    bool tls_handshake() const noexcept { return curl_code_ == CURLE_SSL_CONNECT_ERROR; }

private:
    std::string reason_;
    int curl_code_;
    bool transient_;
};

class HttpClient {
public:
    HttpClient();
    HttpResponse perform(const HttpRequest& request, const TlsOptions& tls);

private:
    CurlEasy curl_;
};

} // namespace strata::registry
