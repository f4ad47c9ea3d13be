#include "registry/hosts.hpp"

#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/text.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cctype>
#include <cstdlib>
#include <set>

namespace strata::registry {

namespace {

std::vector<std::string> split(std::string_view text, char separator) {
    std::vector<std::string> parts;
    std::size_t start = 0;
    while (start <= text.size()) {
        const auto end = text.find(separator, start);
        const auto piece = text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
        if (!piece.empty()) parts.emplace_back(piece);
        if (end == std::string_view::npos) break;
        start = end + 1;
    }
    return parts;
}

// "reg:5000" -> "reg", "[::1]:5000" -> "::1", "::1" -> "::1".
std::string host_without_port(std::string_view host) {
    if (host.starts_with('[')) {
        const auto close = host.find(']');
        return std::string(host.substr(1, close == std::string_view::npos ? std::string_view::npos : close - 1));
    }
    if (std::count(host.begin(), host.end(), ':') == 1) return std::string(host.substr(0, host.find(':')));
    return std::string(host);
}

std::optional<std::uint32_t> ipv4(const std::string& text) {
    in_addr address{};
    if (::inet_pton(AF_INET, text.c_str(), &address) != 1) return std::nullopt;
    return ntohl(address.s_addr);
}

// "10.0.0.0/8" contains "10.1.2.3".
bool in_cidr(const std::string& host, std::string_view cidr) {
    const auto slash = cidr.find('/');
    if (slash == std::string_view::npos) return false;
    const auto network = ipv4(std::string(cidr.substr(0, slash)));
    const auto address = ipv4(host);
    const int bits = std::atoi(std::string(cidr.substr(slash + 1)).c_str());
    if (!network || !address || bits < 0 || bits > 32) return false;
    const std::uint32_t mask = bits == 0 ? 0 : ~std::uint32_t{0} << (32 - bits);
    return (*network & mask) == (*address & mask);
}

bool is_loopback(const std::string& bare) {
    return bare == "localhost" || bare == "::1" || in_cidr(bare, "127.0.0.0/8");
}

std::string join_url(std::string_view base, std::string_view repository, std::string_view kind, std::string_view tail) {
    std::string url(base);
    url += "/v2/";
    url += repository;
    url += kind;
    url += tail;
    return url;
}

} // namespace

HostSettings settings_from_environment() {
    HostSettings settings;
    if (const auto insecure = nonempty_env("STRATA_INSECURE_REGISTRIES")) settings.insecure = split(*insecure, ',');
    settings.mirror = nonempty_env("STRATA_REGISTRY_MIRROR");
    const auto dirs = nonempty_env("STRATA_CERTS_DIRS");
    settings.certs_dirs = split(dirs.value_or("/etc/containers/certs.d:/etc/docker/certs.d"), ':');
    return settings;
}

std::string api_host(std::string_view domain) {
    if (domain == "docker.io" || domain == "index.docker.io") return "registry-1.docker.io";
    return std::string(domain);
}

bool is_insecure(std::string_view host, const std::vector<std::string>& insecure) {
    const std::string bare = host_without_port(host);
    if (is_loopback(bare)) return true;
    for (const auto& entry : insecure) {
        if (entry == host || entry == bare || in_cidr(bare, entry)) return true;
    }
    return false;
}

TlsFiles tls_files(std::string_view host, const std::vector<std::string>& certs_dirs) {
    TlsFiles files;
    for (const auto& root : certs_dirs) {
        const fs::path dir = fs::path(root) / std::string(host);
        std::error_code ec;
        if (!fs::is_directory(dir, ec)) continue;
        const auto names = sorted_dir_names(dir);
        const std::set<std::string> present(names.begin(), names.end());
        for (const auto& name : names) {
            const fs::path path = dir / name;
            if (name.ends_with(".crt")) files.ca_files.push_back(path.string());
            if (name.ends_with(".cert")) {
                const std::string key = name.substr(0, name.size() - 5) + ".key";
                if (!present.contains(key)) throw Error("client certificate '" + path.string() + "' has no key '" + key + "'");
                files.client.push_back({path.string(), (dir / key).string()});
            }
            if (name.ends_with(".key") && !present.contains(name.substr(0, name.size() - 4) + ".cert"))
                throw Error("client key '" + path.string() + "' has no certificate (.cert)");
        }
    }
    return files;
}

std::string manifest_url(std::string_view base, std::string_view repository, std::string_view reference) {
    return join_url(base, repository, "/manifests/", reference);
}

std::string blob_url(std::string_view base, std::string_view repository, std::string_view digest) {
    return join_url(base, repository, "/blobs/", digest);
}

std::string upload_url(std::string_view base, std::string_view repository) {
    return join_url(base, repository, "/blobs/uploads/", "");
}

std::string mount_url(std::string_view base, std::string_view repository, std::string_view digest, std::string_view from) {
    return with_query(with_query(upload_url(base, repository), "mount", digest), "from", from);
}

std::string absolute_location(std::string_view base, std::string_view location) {
    if (location.starts_with("http://") || location.starts_with("https://")) return std::string(location);
    if (location.starts_with('/')) return std::string(base) + std::string(location);
    throw Error("the registry answered with a relative Location '" + std::string(location) + "' strata cannot follow");
}

std::string percent_encode(std::string_view text) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (const unsigned char c : text) {
        if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

std::string with_query(std::string_view url, std::string_view name, std::string_view value) {
    std::string out(url);
    out += url.find('?') == std::string_view::npos ? '?' : '&';
    out += name;
    out += '=';
    out += percent_encode(value);
    return out;
}

std::string mirror_base(std::string_view mirror, const std::vector<std::string>& insecure) {
    std::string base(mirror);
    while (base.ends_with('/')) base.pop_back();
    if (base.starts_with("http://") || base.starts_with("https://")) return base;
    return (is_insecure(base, insecure) ? "http://" : "https://") + base;
}

} // namespace strata::registry
