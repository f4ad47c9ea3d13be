#include "registry/http.hpp"
#include "util/text.hpp"

#include <cctype>
#include <exception>

namespace strata::registry {

namespace {

std::string_view trimmed(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == '\r' || text.back() == '\n' || text.back() == ' ' || text.back() == '\t'))
        text.remove_suffix(1);
    return text;
}

// What the callbacks share; a callback must not throw through libcurl's C frames, so it
// keeps the exception and returns a count that makes libcurl stop.
struct Exchange {
    CURL* curl = nullptr;
    const HttpRequest* request = nullptr;
    HttpResponse response;
    std::int64_t sent = 0;
    bool body_started = false;
    std::exception_ptr error;
};

bool is_success(CURL* curl) {
    long code = 0;
    libcurl().easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    return code >= 200 && code < 300;
}

std::size_t on_write(char* data, std::size_t size, std::size_t count, void* user) {
    auto* x = static_cast<Exchange*>(user);
    const std::size_t n = size * count;
    try {
        if (x->request->on_body && is_success(x->curl)) {
            if (!x->body_started) {
                x->body_started = true;
                libcurl().easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &x->response.status);
                if (x->request->on_response) x->request->on_response(x->response);
            }
            x->request->on_body(data, n);
        } else {
            if (x->response.body.size() + n > max_collected_body) throw Error("the registry's answer is too large");
            x->response.body.append(data, n);
        }
    } catch (...) {
        x->error = std::current_exception();
        return 0;
    }
    return n;
}

std::size_t on_read(char* buffer, std::size_t size, std::size_t count, void* user) {
    auto* x = static_cast<Exchange*>(user);
    try {
        const std::size_t n = x->request->body(x->sent, buffer, size * count);
        x->sent += static_cast<std::int64_t>(n);
        return n;
    } catch (...) {
        x->error = std::current_exception();
        return CURL_READFUNC_ABORT;
    }
}

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
    auto* x = static_cast<Exchange*>(user);
    const std::size_t n = size * count;
    const std::string_view line = trimmed({data, n});
    if (line.starts_with("HTTP/")) {  // a new response (after a redirect or "100 Continue")
        x->response.status_line = std::string(line);
        x->response.headers.clear();
        x->response.body.clear();
    } else if (const auto colon = line.find(':'); colon != std::string_view::npos) {
        x->response.headers.emplace_back(ascii_lower(trimmed(line.substr(0, colon))), std::string(trimmed(line.substr(colon + 1))));
    }
    return n;
}

template <typename T>
void set(CURL* curl, CURLoption option, T value) {
    if (const CURLcode rc = libcurl().easy_setopt(curl, option, value); rc != CURLE_OK)
        throw Error(std::string("curl_easy_setopt: ") + libcurl().easy_strerror(rc));
}

bool is_transient(CURLcode rc) {
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_PARTIAL_FILE:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:  // also a reset during the handshake
        return true;
    default:
        return false;
    }
}

void set_method(CURL* c, const HttpRequest& request) {
    if (request.method == "GET") return;
    if (request.method == "HEAD") return set(c, CURLOPT_NOBODY, 1L);
    // Every other method sends a body (maybe empty) through the read callback.
    set(c, CURLOPT_UPLOAD, 1L);
    set(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(request.body_size));
    set(c, CURLOPT_CUSTOMREQUEST, request.method.c_str());
}

void set_tls(CURL* c, const TlsOptions& tls) {
    if (!tls.verify) {
        set(c, CURLOPT_SSL_VERIFYPEER, 0L);
        set(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (!tls.ca_bundle.empty()) {
        curl_blob blob{const_cast<char*>(tls.ca_bundle.data()), tls.ca_bundle.size(), CURL_BLOB_NOCOPY};
        set(c, CURLOPT_CAINFO_BLOB, &blob);  // libcurl copies the struct, not the bytes: ours outlive the transfer
    }
    if (!tls.client_cert.empty()) {
        set(c, CURLOPT_SSLCERT, tls.client_cert.c_str());
        set(c, CURLOPT_SSLKEY, tls.client_key.c_str());
    }
}

} // namespace

HttpRequest get_request(std::string url, std::vector<std::string> headers) {
    HttpRequest request;
    request.url = std::move(url);
    request.headers = std::move(headers);
    return request;
}

std::string HttpResponse::header(std::string_view name) const {
    for (const auto& [key, value] : headers) {
        if (key == name) return value;
    }
    return {};
}

std::vector<std::string> HttpResponse::all(std::string_view name) const {
    std::vector<std::string> values;
    for (const auto& [key, value] : headers) {
        if (key == name) values.push_back(value);
    }
    return values;
}

std::string HttpResponse::status_text() const {
    const auto space = status_line.find(' ');
    if (space == std::string::npos) return std::to_string(status);
    return status_line.substr(space + 1);
}

HttpClient::HttpClient() : curl_(make_curl_easy()) {}

HttpResponse HttpClient::perform(const HttpRequest& request, const TlsOptions& tls) {
    CURL* c = curl_.get();
    libcurl().easy_reset(c);  // options go; the connection cache stays
    Exchange x;
    x.curl = c;
    x.request = &request;
    CurlList headers;
    for (const auto& h : request.headers) curl_list_append(headers, h.c_str());
    char error_buffer[CURL_ERROR_SIZE] = {};
    set(c, CURLOPT_URL, request.url.c_str());
    set(c, CURLOPT_PROTOCOLS_STR, "http,https");
    set(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    set(c, CURLOPT_FOLLOWLOCATION, request.follow_redirects ? 1L : 0L);
    set(c, CURLOPT_MAXREDIRS, 10L);
    set(c, CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM for DNS timeouts
    set(c, CURLOPT_CONNECTTIMEOUT, 30L);
    // A stalled transfer (under 1 byte/s for a minute) fails and is retried, not waited on.
    set(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    set(c, CURLOPT_LOW_SPEED_TIME, 60L);
    set(c, CURLOPT_USERAGENT, "strata");
    set(c, CURLOPT_ERRORBUFFER, error_buffer);
    set(c, CURLOPT_HTTPHEADER, headers.get());
    set(c, CURLOPT_WRITEFUNCTION, on_write);
    set(c, CURLOPT_WRITEDATA, &x);
    set(c, CURLOPT_HEADERFUNCTION, on_header);
    set(c, CURLOPT_HEADERDATA, &x);
    set(c, CURLOPT_READFUNCTION, on_read);
    set(c, CURLOPT_READDATA, &x);
    set_method(c, request);
    set_tls(c, tls);

    const CURLcode rc = libcurl().easy_perform(c);
    if (x.error) std::rethrow_exception(x.error);
    if (rc != CURLE_OK) {
        const std::string reason = error_buffer[0] ? error_buffer : libcurl().easy_strerror(rc);
        throw TransportError(request.method + " " + request.url + ": " + reason, reason, rc, is_transient(rc));
    }
    libcurl().easy_getinfo(c, CURLINFO_RESPONSE_CODE, &x.response.status);
    return std::move(x.response);
}

} // namespace strata::registry
