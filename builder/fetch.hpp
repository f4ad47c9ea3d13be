#pragma once
// ADD's remote sources: http(s) downloads through libcurl, streamed to a file and hashed
// on the way, and the rules BuildKit uses to tell a URL, a git repository and a file name.
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace strata::builder {

namespace fs = std::filesystem;

struct Download {
    fs::path file;       // the content, mode 0600
    std::string digest;  // "sha256:<hex>" of the content
    std::optional<long long> last_modified;  // seconds since the epoch, from the Last-Modified header
};

// Downloads `url` (http or https; redirects followed, to http or https only) into a new file
// in `dir`, hashing it while it is written; memory does not grow with its size. Throws
// naming the URL, with the HTTP status when the server answered with an error.
Download download(const std::string& url, const fs::path& dir);

// "http://..." or "https://...", and not a git repository.
bool is_http_url(std::string_view source);
// What BuildKit takes for a git repository: git@host:..., git://..., ssh://..., or an
// http(s) URL whose path ends in ".git" (a "#ref" fragment may follow).
bool is_git_url(std::string_view source);
// The file name ADD gives a download when the destination is a directory: the last
// component of the URL's path, percent-decoded; "__unnamed__" when it has none.
std::string url_file_name(std::string_view url);

} // namespace strata::builder
