// HTTP downloads for ADD with libcurl's easy interface: one handle per download (stages
// may download at the same time), the body streamed through a write callback that writes
// and hashes each chunk as it arrives.
#include "builder/fetch.hpp"

#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/libcurl.hpp"
#include "util/sha256.hpp"


#include <cstdlib>
#include <exception>
#include <memory>
#include <unistd.h>

namespace strata::builder {

namespace {

// Where the body goes. A callback must not throw through libcurl's C frames: it keeps
// the error and returns a short count, which makes libcurl stop with CURLE_WRITE_ERROR.
struct Sink {
    int fd = -1;
    std::string path;
    Sha256 hash;
    std::exception_ptr error;
    std::string status_line;  // of the last response, for error messages ("HTTP/1.1 404 Not Found")
};

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
    auto* sink = static_cast<Sink*>(user);
    const std::size_t n = size * count;
    try {
        write_all(sink->fd, data, n, sink->path.c_str());
        sink->hash.update(data, n);
    } catch (...) {
        sink->error = std::current_exception();
        return 0;
    }
    return n;
}

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
    auto* sink = static_cast<Sink*>(user);
    const std::size_t n = size * count;
    const std::string_view line(data, n);
    if (line.starts_with("HTTP/")) {
        const auto end = line.find_last_not_of("\r\n");
        sink->status_line = std::string(line.substr(0, end == std::string_view::npos ? 0 : end + 1));
    }
    return n;
}

// "HTTP/1.1 404 Not Found" -> "404 Not Found"
std::string status_text(const std::string& status_line, long code) {
    const auto space = status_line.find(' ');
    if (space == std::string::npos) return std::to_string(code);
    return status_line.substr(space + 1);
}

template <typename T>
void set_option(CURL* curl, CURLoption option, T value) {
    if (const CURLcode rc = libcurl().easy_setopt(curl, option, value); rc != CURLE_OK)
        throw Error(std::string("curl_easy_setopt: ") + libcurl().easy_strerror(rc));
}

// Unlinks a partial download unless it was kept.
class FileGuard {
public:
    explicit FileGuard(fs::path path) : path_(std::move(path)) {}
    FileGuard(const FileGuard&) = delete;
    FileGuard& operator=(const FileGuard&) = delete;
    ~FileGuard() {
        if (!path_.empty()) ::unlink(path_.c_str());
    }
    void keep() { path_.clear(); }

private:
    fs::path path_;
};

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string percent_decode(std::string_view text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '%' && i + 2 < text.size()) {
            const int hi = hex_value(text[i + 1]);
            const int lo = hex_value(text[i + 2]);
            if (hi >= 0 && lo >= 0) {
                out += static_cast<char>(hi * 16 + lo);
                i += 2;
                continue;
            }
        }
        out += text[i];
    }
    return out;
}

// The path of an http(s) URL: after the authority, before any query or fragment.
std::string_view url_path(std::string_view url) {
    const auto scheme = url.find("://");
    if (scheme == std::string_view::npos) return {};
    const std::string_view rest = url.substr(scheme + 3);
    const auto slash = rest.find('/');
    if (slash == std::string_view::npos) return {};
    std::string_view path = rest.substr(slash);
    return path.substr(0, path.find_first_of("?#"));
}

} // namespace

Download download(const std::string& url, const fs::path& dir) {
    return with_context("download '" + url + "'", [&] {
        std::string tmpl = (dir / "download-XXXXXX").string();
        Fd fd(::mkstemp(tmpl.data()));  // mode 0600, which is what docker gives a download
        if (!fd) throw_errno("mkstemp", tmpl);
        FileGuard guard(tmpl);

        const CurlEasy curl = make_curl_easy();
        Sink sink;
        sink.fd = fd.get();
        sink.path = tmpl;
        char error_buffer[CURL_ERROR_SIZE] = {};
        CURL* c = curl.get();
        set_option(c, CURLOPT_URL, url.c_str());
        set_option(c, CURLOPT_PROTOCOLS_STR, "http,https");
        set_option(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
        set_option(c, CURLOPT_FOLLOWLOCATION, 1L);
        set_option(c, CURLOPT_MAXREDIRS, 10L);
        set_option(c, CURLOPT_FAILONERROR, 1L);
        set_option(c, CURLOPT_FILETIME, 1L);
        set_option(c, CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM for DNS timeouts
        set_option(c, CURLOPT_CONNECTTIMEOUT, 30L);
        // A stalled transfer (under 1 byte/s for a minute) fails instead of hanging the build.
        set_option(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
        set_option(c, CURLOPT_LOW_SPEED_TIME, 60L);
        set_option(c, CURLOPT_USERAGENT, "strata");
        set_option(c, CURLOPT_ERRORBUFFER, error_buffer);
        set_option(c, CURLOPT_WRITEFUNCTION, on_body);
        set_option(c, CURLOPT_WRITEDATA, &sink);
        set_option(c, CURLOPT_HEADERFUNCTION, on_header);
        set_option(c, CURLOPT_HEADERDATA, &sink);

        const CURLcode rc = libcurl().easy_perform(c);
        if (sink.error) std::rethrow_exception(sink.error);
        if (rc != CURLE_OK) {
            long code = 0;
            libcurl().easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
            if (rc == CURLE_HTTP_RETURNED_ERROR && code >= 400)
                throw Error("the server answered HTTP " + status_text(sink.status_line, code));
            throw Error(std::string(error_buffer[0] ? error_buffer : libcurl().easy_strerror(rc)));
        }
        Download result;
        curl_off_t filetime = -1;
        if (libcurl().easy_getinfo(c, CURLINFO_FILETIME_T, &filetime) == CURLE_OK && filetime >= 0)
            result.last_modified = static_cast<long long>(filetime);
        result.digest = sink.hash.digest();
        result.file = tmpl;
        guard.keep();
        return result;
    });
}

bool is_git_url(std::string_view source) {
    if (source.starts_with("git@") || source.starts_with("git://") || source.starts_with("ssh://")) return true;
    if (!source.starts_with("http://") && !source.starts_with("https://")) return false;
    return url_path(source).ends_with(".git");
}

bool is_http_url(std::string_view source) {
    return (source.starts_with("http://") || source.starts_with("https://")) && !is_git_url(source);
}

std::string url_file_name(std::string_view url) {
    std::string path = percent_decode(url_path(url));
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    const auto slash = path.rfind('/');
    const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
    if (name.empty() || name == "." || name == "..") return "__unnamed__";
    return name;
}

} // namespace strata::builder
