#pragma once
// Where a registry is and how to reach it: the API host of a reference's domain, which
// registries may be reached over plain http, the TLS files podman and docker keep per
// registry, the docker.io mirror, and the URLs of the distribution API.
//
// Settings come from flags and the environment (README, "Registries"):
//   STRATA_INSECURE_REGISTRIES  comma-separated hosts ("reg:5000", "10.0.0.0/8") like --insecure-registry
//   STRATA_REGISTRY_MIRROR      a docker.io mirror ("https://mirror:5000", or host[:port]) like --registry-mirror
//   STRATA_CERTS_DIRS           colon-separated certs.d directories (default
//                               /etc/containers/certs.d:/etc/docker/certs.d)
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace strata::registry {

struct HostSettings {
    bool tls_verify = true;                     // --tls-verify=false turns verification off
    std::vector<std::string> insecure;          // hosts ("host[:port]") or IPv4 CIDRs, besides loopback
    std::optional<std::string> mirror;          // docker.io pulls try this first
    std::vector<std::string> certs_dirs;        // certs.d roots, searched in order
};

// Defaults, then the environment variables above. Flags are added by the caller.
HostSettings settings_from_environment();

// "docker.io" -> "registry-1.docker.io"; other domains are their own API host.
std::string api_host(std::string_view domain);

// Plain http is allowed: loopback (localhost, 127.0.0.0/8, ::1, as docker) or listed.
bool is_insecure(std::string_view host, const std::vector<std::string>& insecure);

struct ClientCertificate {
    std::string cert;  // PEM file
    std::string key;
};
struct TlsFiles {
    std::vector<std::string> ca_files;  // *.crt, added to the system CAs
    std::vector<ClientCertificate> client;  // *.cert with its *.key
};
// The files for "host[:port]" in each certs.d root (sorted by name, as docker reads them).
// A *.cert without its *.key (or the reverse) is an error, as docker makes it.
TlsFiles tls_files(std::string_view host, const std::vector<std::string>& certs_dirs);

// "https://reg:5000" + "/v2/" + path pieces. Repositories and digests need no escaping
// (their grammar allows none of the reserved characters); tags neither.
std::string manifest_url(std::string_view base, std::string_view repository, std::string_view reference);
std::string blob_url(std::string_view base, std::string_view repository, std::string_view digest);
std::string upload_url(std::string_view base, std::string_view repository);
std::string mount_url(std::string_view base, std::string_view repository, std::string_view digest, std::string_view from);
// A Location header made absolute against base ("/v2/x/blobs/uploads/u?_state=..").
std::string absolute_location(std::string_view base, std::string_view location);
// Adds "name=value" (value percent-encoded) to a URL's query.
std::string with_query(std::string_view url, std::string_view name, std::string_view value);
std::string percent_encode(std::string_view text);

// A mirror setting as a base URL: "mirror:5000" -> "https://mirror:5000" ("http://" if insecure).
std::string mirror_base(std::string_view mirror, const std::vector<std::string>& insecure);

} // namespace strata::registry
